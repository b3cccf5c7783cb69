"""Registering a servicer so that an undecodable request is a clear
INVALID_ARGUMENT rather than grpc's UNKNOWN "Unexpected DecodeError".

The generated `add_*Servicer_to_server` passes `Request.FromString` as the
deserializer; when it raises (bad UTF-8 in a string field, corrupt wire
format) grpc answers UNKNOWN with the exception text. Here the deserializer
returns an `UndecodableRequest` instead, which the servicer's error mapping
turns into INVALID_ARGUMENT like any other bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass


@dataclass(frozen=True, slots=True)
class UndecodableRequest:
    """Stands in for a request whose bytes are not a valid message."""

    reason: str


def _tolerant(parse: Callable[[bytes], Message]) -> Callable[[bytes], Message | UndecodableRequest]:
    def deserialize(data: bytes) -> Message | UndecodableRequest:
        try:
            return parse(data)
        except DecodeError as error:
            return UndecodableRequest(str(error))

    return deserialize


# The handler constructor for (request streaming, response streaming).
HANDLER_KINDS: Final = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def add_servicer(server: grpc.aio.Server, servicer: object, service: ServiceDescriptor) -> None:
    """What the generated add_<Service>Servicer_to_server does, with tolerant
    request deserializers (for a request stream: per message)."""
    handlers = {}
    for method in service.methods:
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        make = HANDLER_KINDS[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=_tolerant(request_class.FromString),
            response_serializer=response_class.SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
