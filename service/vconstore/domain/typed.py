"""Conversion between a vCon's JSON value and the typed `vcon.v1.Vcon` message.

The conversion is lossless under RFC 8785 canonical JSON for any JSON object,
valid vCon or not (the rules are the file comment of protos/vcon/v1/vcon.proto):

* a known member whose value fits its typed field exactly goes into the field;
* everything else (unknown names, a value of another JSON type, `null`, an
  empty array, an array with one element that does not fit, an int outside
  int32 in an int32 field) goes, whole and under its own name, into that
  object's `extra_members`;
* the output merges the fields and `extra_members` back into one object.

It is hand-written rather than `google.protobuf.json_format` because that is
about ten times slower and is on the Create/Get hot path. The converter is
built once, at import time, from the message descriptors: per message type a
map from member name (the field's `json_name`) to a setter closure, and from
field descriptor to (member name, getter), each chosen by the field's kind.

`google.protobuf.Value`/`Struct` hold every number as a double, so integers
are exact only within ±(2^53 - 1), the I-JSON range the service accepts; an
integer outside it is refused with `TypedConversionError` rather than being
silently rounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from vconstore_proto.vcon.v1 import vcon_pb2

__all__ = [
    "TypedConversionError",
    "parties_only",
    "vcon_from_json_value",
    "vcon_to_json_value",
]

_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
# The I-JSON (RFC 7493) safe range: every integer in it is exact as a double.
_SAFE_INT_MAX: Final = 2**53 - 1

_EXTRA: Final = "extra_members"


class TypedConversionError(ValueError):
    """A value has no lossless counterpart on the other side.

    From JSON: an integer outside ±(2^53 - 1) bound for a double, a string
    with a lone surrogate, or a Python object that is not a JSON value.
    To JSON: a message no JSON document maps to (an unset oneof, a `Value`
    of no kind, a member that is both a typed field and an extra member);
    only a hand-built message can be like that.
    """


# A setter writes one member's value into a message and returns True, or
# returns False without touching the message when the value does not fit the
# field (the caller then keeps it in `extra_members`). Setters must decide
# before writing, so that a refused value never leaves a half-filled field.
_Setter = Callable[[Any, object], bool]
# A getter turns a field's value, as `ListFields()` returns it, into JSON.
# None means the value is already JSON (str, int) and is used as is.
_Getter = Callable[[Any], object] | None


@dataclass(slots=True)
class _Codec:
    """The converter of one message type that has `extra_members`."""

    setters: dict[str, _Setter] = field(default_factory=dict)
    # Keyed by descriptor: `ListFields()` hands back the very same objects.
    getters: dict[FieldDescriptor, tuple[str, _Getter]] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Scalars


def _int32(value: object) -> int | None:
    """The int32 a JSON number stands for, or None when it is not one.

    `type(...) is` rather than isinstance: a bool is an int to Python but
    never a number in JSON.
    """
    if type(value) is int:
        return value if _INT32_MIN <= value <= _INT32_MAX else None
    if type(value) is float and value.is_integer() and _INT32_MIN <= value <= _INT32_MAX:
        return int(value)
    return None


def _int32_list(value: list[object]) -> list[int] | None:
    out: list[int] = []
    for element in value:
        number = _int32(element)
        if number is None:
            return None
        out.append(number)
    return out


def _safe_int(value: int) -> int:
    if -_SAFE_INT_MAX <= value <= _SAFE_INT_MAX:
        return value
    raise TypedConversionError(
        f"integer {value} is outside ±(2^53 - 1) and cannot be kept exactly as a double"
    )


def _number_to_json(value: float) -> int | float:
    # Give integral doubles back as ints so that a `30` stays `30` (not `30.0`)
    # in non-canonical serialisations too; canonically the two are equal.
    if value.is_integer() and -_SAFE_INT_MAX <= value <= _SAFE_INT_MAX:
        as_int = int(value)
        # -0.0 stays a float (an int has no sign to keep), so that converting
        # the output back gives the very same message.
        if as_int or math.copysign(1.0, value) > 0:
            return as_int
    return value


# ---------------------------------------------------------------------------
# google.protobuf.Value: any JSON value


def _set_value(target: struct_pb2.Value, value: object) -> None:
    # Ordered by how often each type occurs in vCons.
    if type(value) is str:
        target.string_value = value
    elif type(value) is dict:
        if value:
            # Indexing the map inserts the entry and marks the struct present.
            fields = target.struct_value.fields
            for key, item in value.items():
                _set_value(fields[key], item)
        else:
            target.struct_value.SetInParent()
    elif type(value) is list:
        if value:
            add = target.list_value.values.add
            for item in value:
                _set_value(add(), item)
        else:
            target.list_value.SetInParent()
    elif type(value) is int:
        target.number_value = _safe_int(value)
    elif type(value) is float:
        target.number_value = value
    elif type(value) is bool:
        target.bool_value = value
    elif value is None:
        target.null_value = struct_pb2.NULL_VALUE
    else:
        raise TypedConversionError(f"{type(value).__name__} is not a JSON value")


def _value_to_json(value: struct_pb2.Value) -> object:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        # Keys and indexing, not .items(): upb maps get their items() from the
        # pure-Python Mapping mixin, which is about twice as slow.
        fields = value.struct_value.fields
        return {key: _value_to_json(fields[key]) for key in fields}
    if kind == "list_value":
        return [_value_to_json(item) for item in value.list_value.values]
    if kind == "number_value":
        return _number_to_json(value.number_value)
    if kind == "bool_value":
        return value.bool_value
    if kind == "null_value":
        return None
    raise TypedConversionError("a google.protobuf.Value has no kind set")


def _set_value_field(name: str) -> _Setter:
    def set_value(message: Any, value: object) -> bool:
        _set_value(getattr(message, name), value)
        return True

    return set_value


# ---------------------------------------------------------------------------
# Plain fields


def _set_string(name: str) -> _Setter:
    def set_string(message: Any, value: object) -> bool:
        if type(value) is str:
            setattr(message, name, value)
            return True
        return False

    return set_string


def _set_int32(name: str) -> _Setter:
    def set_int32(message: Any, value: object) -> bool:
        number = _int32(value)
        if number is None:
            return False
        setattr(message, name, number)
        return True

    return set_int32


def _set_double(name: str) -> _Setter:
    def set_double(message: Any, value: object) -> bool:
        if type(value) is float:
            setattr(message, name, value)
            return True
        # Only ints a double holds exactly; a larger one goes to extra_members,
        # where it is refused as well (see _safe_int).
        if type(value) is int and -_SAFE_INT_MAX <= value <= _SAFE_INT_MAX:
            setattr(message, name, value)
            return True
        return False

    return set_double


def _set_strings(name: str) -> _Setter:
    def set_strings(message: Any, value: object) -> bool:
        # Not an empty array: a repeated field cannot tell [] from absent.
        if type(value) is list and value and all(type(e) is str for e in value):
            getattr(message, name).extend(value)
            return True
        return False

    return set_strings


def _set_int32s(name: str) -> _Setter:
    def set_int32s(message: Any, value: object) -> bool:
        if type(value) is not list or not value:
            return False
        numbers = _int32_list(value)
        if numbers is None:
            return False
        getattr(message, name).extend(numbers)
        return True

    return set_int32s


def _set_message(name: str, codec: _Codec) -> _Setter:
    def set_message(message: Any, value: object) -> bool:
        if type(value) is not dict:
            return False
        target = getattr(message, name)
        if value:
            _fill(codec, target, value)
        else:
            # Keep `{}` apart from an absent member.
            target.SetInParent()
        return True

    return set_message


def _set_messages(name: str, codec: _Codec) -> _Setter:
    def set_messages(message: Any, value: object) -> bool:
        if type(value) is not list or not value or any(type(e) is not dict for e in value):
            return False
        add = getattr(message, name).add
        for element in value:
            _fill(codec, add(), element)
        return True

    return set_messages


def _messages_getter(codec: _Codec) -> _Getter:
    return lambda messages: [_to_json(codec, m) for m in messages]


def _message_getter(codec: _Codec) -> _Getter:
    return lambda message: _to_json(codec, message)


# ---------------------------------------------------------------------------
# The polymorphic members: oneof wrappers without extra_members of their own


def _set_dialog_parties(name: str) -> _Setter:
    """`dialog.parties`: number | (number | number[] | null)[]."""

    def set_dialog_parties(message: Any, value: object) -> bool:
        index = _int32(value)
        if index is not None:
            target: vcon_pb2.DialogParties = getattr(message, name)
            target.index = index
            return True
        if type(value) is not list or not value:
            return False
        entries: list[int | list[int] | None] = []
        for element in value:
            entry: int | list[int] | None
            if element is None:
                entry = None
            elif type(element) is list:
                # An inner [] is kept: the oneof tells it apart from absent.
                entry = _int32_list(element)
                if entry is None:
                    return False
            else:
                entry = _int32(element)
                if entry is None:
                    return False
            entries.append(entry)
        add = getattr(message, name).channels.channels.add
        for entry in entries:
            channel: vcon_pb2.PartyChannel = add()
            if entry is None:
                channel.placeholder = struct_pb2.NULL_VALUE
            elif isinstance(entry, int):
                channel.index = entry
            else:
                channel.indexes.SetInParent()
                channel.indexes.indexes.extend(entry)
        return True

    return set_dialog_parties


def _dialog_parties_to_json(message: vcon_pb2.DialogParties) -> object:
    form = message.WhichOneof("form")
    if form == "index":
        return message.index
    if form == "channels":
        return [_channel_to_json(channel) for channel in message.channels.channels]
    raise TypedConversionError("a DialogParties has neither `index` nor `channels` set")


def _channel_to_json(channel: vcon_pb2.PartyChannel) -> object:
    form = channel.WhichOneof("form")
    if form == "index":
        return channel.index
    if form == "indexes":
        return list(channel.indexes.indexes)
    if form == "placeholder":
        return None
    raise TypedConversionError("a PartyChannel has no form set")


def _set_index_or_list(name: str) -> _Setter:
    """`analysis.dialog` / `analysis.attachment`: number | number[]."""

    def set_index_or_list(message: Any, value: object) -> bool:
        index = _int32(value)
        if index is not None:
            target: vcon_pb2.IndexOrList = getattr(message, name)
            target.index = index
            return True
        if type(value) is not list or not value:
            return False
        indexes = _int32_list(value)
        if indexes is None:
            return False
        getattr(message, name).list.indexes.extend(indexes)
        return True

    return set_index_or_list


def _index_or_list_to_json(message: vcon_pb2.IndexOrList) -> object:
    form = message.WhichOneof("form")
    if form == "index":
        return message.index
    if form == "list":
        return list(message.list.indexes)
    raise TypedConversionError("an IndexOrList has neither `index` nor `list` set")


def _set_content_hash(name: str) -> _Setter:
    """`content_hash`: string | string[]."""

    def set_content_hash(message: Any, value: object) -> bool:
        if type(value) is str:
            target: vcon_pb2.ContentHash = getattr(message, name)
            target.hash = value
            return True
        if type(value) is list and value and all(type(e) is str for e in value):
            getattr(message, name).list.hashes.extend(value)
            return True
        return False

    return set_content_hash


def _content_hash_to_json(message: vcon_pb2.ContentHash) -> object:
    form = message.WhichOneof("form")
    if form == "hash":
        return message.hash
    if form == "list":
        return list(message.list.hashes)
    raise TypedConversionError("a ContentHash has neither `hash` nor `list` set")


_POLYMORPHIC: Final[dict[str, tuple[Callable[[str], _Setter], _Getter]]] = {
    vcon_pb2.DialogParties.DESCRIPTOR.full_name: (_set_dialog_parties, _dialog_parties_to_json),
    vcon_pb2.IndexOrList.DESCRIPTOR.full_name: (_set_index_or_list, _index_or_list_to_json),
    vcon_pb2.ContentHash.DESCRIPTOR.full_name: (_set_content_hash, _content_hash_to_json),
}


# ---------------------------------------------------------------------------
# Building the codecs from the descriptors


def _build_codec(descriptor: Descriptor, codecs: dict[str, _Codec]) -> _Codec:
    known = codecs.get(descriptor.full_name)
    if known is not None:
        return known
    codec = codecs[descriptor.full_name] = _Codec()
    for fd in descriptor.fields:
        if fd.name == _EXTRA:
            continue
        setter, getter = _field_converters(fd, codecs)
        codec.setters[fd.json_name] = setter
        codec.getters[fd] = (fd.json_name, getter)
    return codec


def _field_converters(fd: FieldDescriptor, codecs: dict[str, _Codec]) -> tuple[_Setter, _Getter]:
    # Any other kind (bool, int64, enum, map, ...) fails here, at import time:
    # a new field of a kind this converter does not know must not silently
    # lose data.
    name, sub = fd.name, fd.message_type
    if sub is None:
        if fd.is_repeated:
            if fd.type == FieldDescriptor.TYPE_STRING:
                return _set_strings(name), list
            if fd.type == FieldDescriptor.TYPE_INT32:
                return _set_int32s(name), list
        elif fd.type == FieldDescriptor.TYPE_STRING:
            return _set_string(name), None
        elif fd.type == FieldDescriptor.TYPE_INT32:
            return _set_int32(name), None
        elif fd.type == FieldDescriptor.TYPE_DOUBLE:
            return _set_double(name), _number_to_json
    elif sub.full_name == struct_pb2.Value.DESCRIPTOR.full_name and not fd.is_repeated:
        return _set_value_field(name), _value_to_json
    elif sub.full_name in _POLYMORPHIC and not fd.is_repeated:
        make_setter, getter = _POLYMORPHIC[sub.full_name]
        return make_setter(name), getter
    elif any(f.name == _EXTRA for f in sub.fields):
        codec = _build_codec(sub, codecs)
        if fd.is_repeated:
            return _set_messages(name, codec), _messages_getter(codec)
        return _set_message(name, codec), _message_getter(codec)
    raise TypeError(f"typed.py cannot convert field {fd.full_name}")


_VCON: Final = _build_codec(vcon_pb2.Vcon.DESCRIPTOR, {})


# ---------------------------------------------------------------------------
# The two walks


def _fill(codec: _Codec, message: Any, obj: dict[str, object]) -> None:
    setters = codec.setters
    extra = None
    for key, value in obj.items():
        setter = setters.get(key)
        if setter is not None and setter(message, value):
            continue
        if extra is None:
            extra = message.extra_members.fields
        _set_value(extra[key], value)


def _to_json(codec: _Codec, message: Any) -> dict[str, object]:
    out: dict[str, object] = {}
    extra: struct_pb2.Struct | None = None
    getters = codec.getters
    for fd, value in message.ListFields():
        entry = getters.get(fd)
        if entry is None:
            # extra_members is the one field without a getter; anything else
            # means a message of another type was passed in.
            if fd.name != _EXTRA:
                raise TypedConversionError(f"unexpected field {fd.full_name}")
            extra = value
            continue
        name, getter = entry
        out[name] = value if getter is None else getter(value)
    if extra is not None:
        fields = extra.fields
        for key in fields:
            if key in out:
                raise TypedConversionError(
                    f"{message.DESCRIPTOR.name}: member {key!r} is both a typed field "
                    "and an extra member"
                )
            out[key] = _value_to_json(fields[key])
    return out


# ---------------------------------------------------------------------------
# Public API


def vcon_from_json_value(doc: dict[str, object]) -> vcon_pb2.Vcon:
    """The typed form of a parsed JSON object (a vCon, or any object at all).

    Raises TypedConversionError for an integer outside ±(2^53 - 1) that would
    have to be kept as a double, a string with a lone surrogate, or a Python
    object that is not JSON.
    """
    if type(doc) is not dict:
        raise TypedConversionError(f"a vCon is a JSON object, not {type(doc).__name__}")
    message = vcon_pb2.Vcon()
    try:
        _fill(_VCON, message, doc)
    except UnicodeEncodeError as exc:
        # protobuf strings are UTF-8, which has no lone surrogates (nor has
        # I-JSON, RFC 7493 §2.1); json.loads lets "\ud800" through.
        raise TypedConversionError(f"a string holds a lone surrogate: {exc}") from exc
    return message


def vcon_to_json_value(message: vcon_pb2.Vcon) -> dict[str, object]:
    """The JSON object a typed vCon stands for (fields and extra members merged).

    Integral numbers come back as ints. Raises TypedConversionError for a
    message no JSON maps to (possible only when built by hand, e.g. by a
    client sending the typed form).
    """
    return _to_json(_VCON, message)


def parties_only(message: vcon_pb2.Vcon) -> vcon_pb2.Vcon:
    """A Vcon holding only the `parties` member of `message`.

    When `parties` did not fit the typed field (an empty array, a non-object
    element), it lives in `extra_members` and is carried over from there, so
    the result is always the typed form of `{"parties": doc["parties"]}`.
    """
    out = vcon_pb2.Vcon()
    if message.parties:
        # One C-level copy of the repeated field; nothing else is touched.
        out.parties.MergeFrom(message.parties)
    elif message.HasField(_EXTRA) and "parties" in message.extra_members.fields:
        out.extra_members.fields["parties"].CopyFrom(message.extra_members.fields["parties"])
    return out
