//! Events: what is appended (`NewEvent`) and what is stored and read back (`Event`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::EventError;

/// What kind of event this is: the origin design's `EventType` vocabulary, or your own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// An actor was created.
    ActorCreated,
    /// An actor was destroyed.
    ActorDestroyed,
    /// A message was sent.
    MessageSent,
    /// A message was processed.
    MessageProcessed,
    /// An actor's state changed (the usual event of an event-sourced actor).
    StateChanged,
    /// A snapshot was taken.
    SnapshotTaken,
    /// A failure occurred.
    FailureOccurred,
    /// Your own type, by name.
    Custom(String),
}

impl EventType {
    /// The type's name: `state_changed` for the built-in ones (the origin design's
    /// strings), the given name for `Custom`.
    pub fn name(&self) -> &str {
        match self {
            EventType::ActorCreated => "actor_created",
            EventType::ActorDestroyed => "actor_destroyed",
            EventType::MessageSent => "message_sent",
            EventType::MessageProcessed => "message_processed",
            EventType::StateChanged => "state_changed",
            EventType::SnapshotTaken => "snapshot_taken",
            EventType::FailureOccurred => "failure_occurred",
            EventType::Custom(name) => name,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Microseconds since the Unix epoch.
pub type Timestamp = u64;

/// The current time as a `Timestamp`.
pub fn now_micros() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// An event to append. Its id is chosen by the client: appending an event whose id is
/// already stored returns the original result and writes nothing (idempotent retries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique id, chosen by the client.
    pub id: String,
    /// Its type.
    pub event_type: EventType,
    /// The payload, opaque to the store (serialize your domain event into it).
    pub payload: Vec<u8>,
    /// When it happened; `None` = the time of the append.
    pub timestamp: Option<Timestamp>,
    /// Groups the events of one flow (the origin design's scenario).
    pub correlation_id: Option<String>,
    /// The id of the event or command that caused this one.
    pub causation_id: Option<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
}

impl NewEvent {
    /// An event with `id`, `event_type` and `payload`, no correlation and no metadata.
    pub fn new(id: impl Into<String>, event_type: EventType, payload: impl Into<Vec<u8>>) -> Self {
        NewEvent {
            id: id.into(),
            event_type,
            payload: payload.into(),
            timestamp: None,
            correlation_id: None,
            causation_id: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Sets the correlation id.
    pub fn correlation(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the causation id.
    pub fn causation(mut self, id: impl Into<String>) -> Self {
        self.causation_id = Some(id.into());
        self
    }

    /// Sets the timestamp (microseconds since the Unix epoch).
    pub fn at(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Adds a metadata entry.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The stored event this becomes at `sequence` and global `position`.
    pub(crate) fn into_event(
        self,
        stream: &str,
        sequence: u64,
        position: u64,
        now: Timestamp,
    ) -> Event {
        Event {
            id: self.id,
            stream: stream.to_owned(),
            sequence,
            position,
            event_type: self.event_type,
            payload: self.payload,
            timestamp: self.timestamp.unwrap_or(now),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            metadata: self.metadata,
        }
    }
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id (client-supplied).
    pub id: String,
    /// The stream (for an event-sourced actor: its persistence id).
    pub stream: String,
    /// Position in its stream: 1, 2, 3… without gaps.
    pub sequence: u64,
    /// Position in the whole journal: increasing, unique (gaps possible after deletes).
    pub position: u64,
    /// Its type.
    pub event_type: EventType,
    /// The payload.
    #[serde(with = "payload_bytes")]
    pub payload: Vec<u8>,
    /// When it happened, microseconds since the Unix epoch.
    pub timestamp: Timestamp,
    /// The flow it belongs to.
    pub correlation_id: Option<String>,
    /// What caused it.
    pub causation_id: Option<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Event {
    /// The event as JSON (payload as an array of bytes).
    ///
    /// # Errors
    /// `EventError::Json` if serialization fails (it does not for well-formed events).
    pub fn to_json(&self) -> Result<String, EventError> {
        serde_json::to_string(self).map_err(|e| EventError::Json(e.to_string()))
    }

    /// An event from JSON produced by `to_json`.
    ///
    /// # Errors
    /// `EventError::Json` naming what is wrong with the input.
    pub fn from_json(json: &str) -> Result<Self, EventError> {
        serde_json::from_str(json).map_err(|e| EventError::Json(e.to_string()))
    }
}

/// The payload as one byte string for binary formats: bincode writes it with one copy
/// instead of one call per byte, and the bytes are the same as a sequence of `u8` (a
/// length, then the bytes), so records written either way read alike. Human-readable
/// formats (JSON) keep the array of numbers.
mod payload_bytes {
    use std::fmt;

    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_seq(bytes)
        } else {
            s.serialize_bytes(bytes)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string or an array of bytes")
            }

            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }

            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                // The hint comes from the input: trust it only so far.
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64 * 1024));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        if d.is_human_readable() {
            d.deserialize_seq(Bytes)
        } else {
            d.deserialize_byte_buf(Bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_payload_is_the_same_bytes_as_a_plain_byte_vector() {
        // What records written before the payload became a byte string hold.
        #[derive(Serialize)]
        struct Plain<'a> {
            payload: &'a Vec<u8>,
        }
        #[derive(Serialize, Deserialize)]
        struct AsBytes {
            #[serde(with = "payload_bytes")]
            payload: Vec<u8>,
        }
        let payload: Vec<u8> = (0..=255).collect();
        let config = bincode::config::standard();
        let plain =
            bincode::serde::encode_to_vec(Plain { payload: &payload }, config).expect("plain");
        let bytes = bincode::serde::encode_to_vec(
            AsBytes {
                payload: payload.clone(),
            },
            config,
        )
        .expect("bytes");
        assert_eq!(plain, bytes);
        let (back, _) =
            bincode::serde::decode_from_slice::<AsBytes, _>(&plain, config).expect("decode");
        assert_eq!(back.payload, payload);
        let json = serde_json::to_string(&AsBytes {
            payload: vec![1, 2],
        })
        .expect("json");
        assert_eq!(json, r#"{"payload":[1,2]}"#);
    }

    fn sample() -> Event {
        NewEvent::new(
            "e-1",
            EventType::Custom("deposited".into()),
            b"100".to_vec(),
        )
        .correlation("c-9")
        .causation("cmd-3")
        .meta("user", "ada")
        .at(1_700_000_000_000_000)
        .into_event("account-1", 1, 42, 0)
    }

    #[test]
    fn json_round_trips() {
        let e = sample();
        let json = e.to_json().expect("to json");
        assert_eq!(Event::from_json(&json).expect("from json"), e);
    }

    #[test]
    fn origin_type_names_are_kept() {
        assert_eq!(EventType::StateChanged.name(), "state_changed");
        assert_eq!(EventType::Custom("x".into()).to_string(), "x");
    }

    proptest! {
        #[test]
        fn json_decoder_never_panics(input in ".*") {
            let _ = Event::from_json(&input);
        }
    }
}
