//! etcd watch events → [`WatchEvent`]s: decoding, deletes from previous values, versions of a
//! transaction, unknown event types.

use std::collections::VecDeque;

use etcd_client::proto::PbEvent;
use informer_core::{Bookmark, SourceError, Version, WatchEvent};

use crate::codec::Codec;
use crate::key::object_key;
use crate::object::EtcdKeyValue;
use crate::source::Inner;

const PUT: i32 = 0;
const DELETE: i32 = 1;

/// One item of a watch stream.
pub(crate) type Item<V> = Result<WatchEvent<EtcdKeyValue<V>>, SourceError>;

pub(crate) fn bookmark<T>(revision: i64) -> WatchEvent<T> {
    WatchEvent::Bookmark(Bookmark { version: Version::from(revision.to_string()), initial_events_end: false })
}

/// Converts the events of one watch response into `out`; returns the highest revision seen.
///
/// Every event carries its revision as its version, so the events of one transaction share it;
/// etcd sends a revision's events in one response, so they are ready together, and the
/// reflector applies them as one batch. If one event of the response fails, none of the
/// response's events is queued (only the error): the watch resumes before the response and a
/// transaction is never applied in part. The raw event type is checked before use
/// (etcd-client's `Event::event_type()` panics on unknown values).
pub(crate) fn convert_events<C: Codec>(
    inner: &Inner<C>,
    context: &str,
    events: Vec<PbEvent>,
    out: &mut VecDeque<Item<C::Value>>,
) -> Result<i64, SourceError> {
    let queued = out.len();
    let mut highest = 0;
    for event in events {
        let revision = event.kv.as_ref().map_or(0, |kv| kv.mod_revision);
        match convert_event(inner, context, event, revision) {
            Ok(event) => out.push_back(Ok(event)),
            Err(err) => {
                out.truncate(queued);
                return Err(err);
            }
        }
        highest = highest.max(revision);
    }
    Ok(highest)
}

fn convert_event<C: Codec>(
    inner: &Inner<C>,
    context: &str,
    event: PbEvent,
    revision: i64,
) -> Result<WatchEvent<EtcdKeyValue<C::Value>>, SourceError> {
    let PbEvent { r#type, kv, prev_kv } = event;
    let Some(kv) = kv else {
        return Err(SourceError::malformed(format!("{context}: an event without a key-value pair")));
    };
    if revision <= 0 {
        let key = object_key(&kv.key);
        return Err(SourceError::malformed(format!("{context}: event for key {key:?} has no revision")));
    }
    let at = Version::from(revision.to_string());
    match r#type {
        PUT => match inner.decode(kv) {
            Ok(object) if object.version == 1 => Ok(WatchEvent::Added { object, version: at }),
            Ok(object) => Ok(WatchEvent::Modified { object, version: at }),
            Err(err) => {
                inner.value_failed(err)?;
                // Skipped: if the key was mirrored with a decodable value, it leaves the mirror.
                Ok(match prev_kv.map(|prev| inner.decode(prev)) {
                    Some(Ok(object)) => WatchEvent::Deleted { object, version: at },
                    _ => bookmark(revision),
                })
            }
        },
        DELETE => {
            let Some(prev) = prev_kv else {
                return Err(SourceError::expired(format!(
                    "{context}: the delete of key {:?} at revision {revision} came without the previous value \
                     (compacted meanwhile); listing again",
                    object_key(&kv.key)
                )));
            };
            // An undecodable previous value was never mirrored: nothing to delete.
            Ok(match inner.decode(prev) {
                Ok(object) => WatchEvent::Deleted { object, version: at },
                Err(_) => bookmark(revision),
            })
        }
        other => Err(SourceError::malformed(format!(
            "{context}: event of unknown type {other} for key {:?} at revision {revision}",
            object_key(&kv.key)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use etcd_client::proto::PbKeyValue;
    use informer_core::ErrorKind;

    use super::*;
    use crate::{EtcdConfig, EtcdSource, KeyRange, TextCodec};

    /// A source whose client never connects (nothing listens on port 1; connections are lazy).
    async fn offline_source() -> EtcdSource<TextCodec> {
        let config = EtcdConfig::new(["127.0.0.1:1"], KeyRange::prefix("/t/"));
        EtcdSource::connect(config, TextCodec).await.expect("lazy client")
    }

    fn kv(key: &str, value: &str, revision: i64, version: i64) -> PbKeyValue {
        PbKeyValue {
            key: key.into(),
            create_revision: revision - version + 1,
            mod_revision: revision,
            version,
            value: value.into(),
            lease: 0,
        }
    }

    fn event(kind: i32, kv: PbKeyValue, prev: Option<PbKeyValue>) -> PbEvent {
        PbEvent { r#type: kind, kv: Some(kv), prev_kv: prev }
    }

    #[tokio::test]
    async fn events_of_one_transaction_share_its_revision() {
        let source = offline_source().await;
        let events = vec![
            event(PUT, kv("/t/a", "1", 7, 1), None),
            event(PUT, kv("/t/b", "2", 7, 2), Some(kv("/t/b", "1", 5, 1))),
            event(DELETE, kv("/t/c", "", 7, 0), Some(kv("/t/c", "old", 4, 1))),
            event(PUT, kv("/t/a", "3", 8, 2), None),
        ];
        let mut out = VecDeque::new();
        assert_eq!(convert_events(&source.inner, "ctx", events, &mut out).unwrap(), 8);
        let versions: Vec<String> = out.iter().map(|e| e.as_ref().unwrap().version().to_string()).collect();
        assert_eq!(versions, ["7", "7", "7", "8"]);
        let kinds: Vec<&str> = out.iter().map(|e| e.as_ref().unwrap().type_name()).collect();
        assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED", "MODIFIED"]);
        match &out[2] {
            Ok(WatchEvent::Deleted { object, .. }) => assert_eq!(object.value, "old"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_event_types_are_malformed_errors_not_panics() {
        let source = offline_source().await;
        let err =
            convert_events(&source.inner, "ctx", vec![event(7, kv("/t/a", "1", 9, 1), None)], &mut VecDeque::new())
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
        assert!(err.to_string().contains("unknown type 7 for key \"/t/a\" at revision 9"), "{err}");
    }

    #[tokio::test]
    async fn a_failing_event_leaves_none_of_its_response_queued() {
        let source = offline_source().await;
        let mut out = VecDeque::new();
        out.push_back(Ok(bookmark(5)));
        let events = vec![event(PUT, kv("/t/a", "1", 7, 1), None), event(9, kv("/t/b", "2", 7, 1), None)];
        assert!(convert_events(&source.inner, "ctx", events, &mut out).is_err());
        assert_eq!(out.len(), 1, "only what an earlier response queued is left");
    }

    #[tokio::test]
    async fn a_delete_without_its_previous_value_is_expired() {
        let source = offline_source().await;
        let err =
            convert_events(&source.inner, "ctx", vec![event(DELETE, kv("/t/a", "", 9, 0), None)], &mut VecDeque::new())
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired, "{err}");
    }

    #[tokio::test]
    async fn a_value_turning_undecodable_leaves_the_mirror_in_skip_mode() {
        let source = offline_source().await;
        let mut out = VecDeque::new();
        let bad = event(PUT, PbKeyValue { value: vec![0xff], ..kv("/t/a", "", 9, 2) }, Some(kv("/t/a", "good", 8, 1)));
        convert_events(&source.inner, "ctx", vec![bad], &mut out).unwrap();
        match out.pop_front() {
            Some(Ok(WatchEvent::Deleted { object, version })) => {
                assert_eq!((object.value.as_str(), version.as_str()), ("good", "9"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(source.decode_failures(), 1);
        assert!(source.last_decode_failure().unwrap().contains("\"/t/a\" at revision 9 is not valid UTF-8 text"));
    }
}
