"""Redaction: PII-stripped derivatives of a vCon. detectors.py finds PII in
text, lexicon.py knows the vCon's own parties, document.py walks a vCon and
redacts it keeping its structure, policies.py names what a policy removes."""
