"""A service's AsyncAPI 3.0 document, generated from what the code declares.

Receive operations: the event types the service's handlers take, per topic. Send
operations: the events its handlers, timer handlers and commands declare they emit (the
declarations are checked while the code runs, see ``kauppa.servicekit.emits``). Each
topic is a channel; each event type and version is a message with its CloudEvents Kafka
headers, its partition key and its JSON Schema (from the contracts' pydantic models).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from kauppa.contracts import Event
from kauppa.servicekit.repository import Document

CE_HEADERS = "CloudEventsKafkaHeaders"


def message_id(cls: type[Event]) -> str:
    return f"{cls.type_name}.v{cls.event_version}"


def channel_id(topic: str) -> str:
    return re.sub(r"[^\w.\-]", "_", topic)


def _headers_schema() -> Document:
    def text(description: str) -> Document:
        return {"type": "string", "description": description}

    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary content mode "
        "(header values are UTF-8 bytes).",
        "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "content-type"],
        "properties": {
            "ce_specversion": {"type": "string", "const": "1.0"},
            "ce_id": text("Event id; derived from the cause for caused events"),
            "ce_type": text("fi.kauppa.<Name>.v<version>"),
            "ce_source": text("The emitting service, e.g. kauppa/handoff"),
            "ce_time": {"type": "string", "format": "date-time"},
            "ce_subject": text("The aggregate id (the partition key)"),
            "content-type": {"type": "string", "const": "application/json"},
            "ce_correlationid": text("The id of the first event of the chain"),
            "ce_causationid": text("The id of the event that caused this one"),
            "traceparent": text("W3C trace context"),
        },
    }


def _hoist(schema: Document, schemas: Document) -> Document:
    """Move a pydantic schema's ``$defs`` into ``components.schemas`` (its refs already
    point there, see ``ref_template``)."""
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    return schema


def _message(cls: type[Event], schemas: Document) -> Document:
    name = message_id(cls)
    payload = cls.model_json_schema(
        mode="serialization", ref_template="#/components/schemas/{model}"
    )
    schemas[name] = _hoist(payload, schemas)
    headers = _headers_schema()
    headers["properties"]["ce_type"] = {"type": "string", "const": cls.ce_type()}
    return {
        "name": cls.type_name,
        "title": f"{cls.type_name} v{cls.event_version}",
        "summary": cls.meaning or cls.type_name,
        "description": f"CloudEvents type `{cls.ce_type()}`. Emitted by {cls.emitted_by}; "
        f"consumed by {', '.join(cls.consumed_by) or 'nobody yet'}.",
        "contentType": "application/json",
        "headers": headers,
        "payload": {"$ref": f"#/components/schemas/{name}"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"The event's {cls.key_field}"},
                "bindingVersion": "0.5.0",
            }
        },
    }


def asyncapi_document(
    service: str,
    *,
    receives: Iterable[type[Event]],
    sends: Iterable[type[Event]],
    version: str = "0.1.0",
    kafka_servers: str | None = None,
) -> Document:
    """The AsyncAPI 3.0 document of a service that receives and sends these events."""
    receives, sends = sorted(set(receives), key=message_id), sorted(set(sends), key=message_id)
    schemas: Document = {}
    messages: Document = {}
    for cls in [*receives, *sends]:
        if message_id(cls) not in messages:
            messages[message_id(cls)] = _message(cls, schemas)
    channels: Document = {}
    operations: Document = {}
    for action, classes in (("receive", receives), ("send", sends)):
        by_topic: dict[str, list[type[Event]]] = defaultdict(list)
        for cls in classes:
            by_topic[cls.topic].append(cls)
        for topic, on_topic in sorted(by_topic.items()):
            cid = channel_id(topic)
            channel = channels.setdefault(cid, {"address": topic, "title": topic, "messages": {}})
            for cls in on_topic:
                channel["messages"][message_id(cls)] = {
                    "$ref": f"#/components/messages/{message_id(cls)}"
                }
            verb = "Receives" if action == "receive" else "Sends"
            operations[f"{action}.{cid}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{cid}"},
                "title": f"{verb} on {topic}",
                "summary": f"{verb} " + ", ".join(c.type_name for c in on_topic),
                "messages": [
                    {"$ref": f"#/channels/{cid}/messages/{message_id(c)}"} for c in on_topic
                ],
            }
    doc: Document = {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"Kauppa {service}",
            "version": version,
            "description": f"Events the {service} service receives and sends "
            "(CloudEvents 1.0 in Kafka binary content mode: the event's JSON is the record "
            "value, its attributes are ce_* headers, the key is the partition key).",
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "defaultContentType": "application/json",
    }
    if kafka_servers:
        doc["servers"] = {
            "kafka": {
                "host": kafka_servers.split(",")[0],
                "protocol": "kafka",
                "description": "The Kafka cluster this instance is configured with",
            }
        }
    doc["channels"] = dict(sorted(channels.items()))
    doc["operations"] = operations
    doc["components"] = {"messages": messages, "schemas": dict(sorted(schemas.items()))}
    return doc
