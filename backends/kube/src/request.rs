//! Request URLs (query parameters per the API concepts page) and the watch body reader.

use std::sync::Arc;

use bytes::{Buf, BytesMut};
use futures::{Stream, StreamExt};
use http_body_util::BodyExt;
use informer_core::{Bookmark, ListOptions, SourceError, Version, WatchEvent, WatchOptions};

use crate::codec::{Codec, Line};
use crate::error::{Verb, from_status};

/// Builds a query string.
pub(crate) struct Query(form_urlencoded::Serializer<'static, String>);

impl Query {
    pub(crate) fn new() -> Self {
        Self(form_urlencoded::Serializer::new(String::new()))
    }

    pub(crate) fn pair(&mut self, key: &str, value: &str) -> &mut Self {
        self.0.append_pair(key, value);
        self
    }

    pub(crate) fn finish(&mut self) -> String {
        self.0.finish()
    }
}

/// The selectors every request of a source carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selectors {
    pub(crate) labels: Option<String>,
    pub(crate) fields: Option<String>,
    /// The `shardSelector` expression (KEP-5866).
    pub(crate) shard: Option<String>,
}

impl Selectors {
    fn add(&self, q: &mut Query) {
        if let Some(l) = &self.labels {
            q.pair("labelSelector", l);
        }
        if let Some(f) = &self.fields {
            q.pair("fieldSelector", f);
        }
        if let Some(s) = &self.shard {
            q.pair("shardSelector", s);
        }
    }
}

/// The query of one list page.
///
/// * continue page: `continue=<token>` only (the server rejects a resourceVersion or a
///   resourceVersionMatch next to a continue token);
/// * consistent read: no resourceVersion ("most recent", a quorum read);
/// * relist: `resourceVersion=<min>&resourceVersionMatch=NotOlderThan`, never older than
///   what the store already holds (kubernetes #59848);
/// * first list: `resourceVersion=0&resourceVersionMatch=NotOlderThan` ("any", served from
///   the watch cache). With a `limit`, servers up to 1.33 ignore the limit for such a list
///   and answer in one page; 1.34+ paginate it from a cache snapshot. Both are handled.
pub(crate) fn list_query(selectors: &Selectors, options: &ListOptions) -> String {
    let mut q = Query::new();
    selectors.add(&mut q);
    if let Some(limit) = options.limit {
        q.pair("limit", &limit.to_string());
    }
    if let Some(token) = &options.continue_token {
        q.pair("continue", token);
    } else if options.consistent {
        // resourceVersion unset: most recent.
    } else if let Some(min) = &options.min_version {
        q.pair("resourceVersion", min).pair("resourceVersionMatch", "NotOlderThan");
    } else {
        q.pair("resourceVersion", "0").pair("resourceVersionMatch", "NotOlderThan");
    }
    q.finish()
}

/// The query of a watch, or of a streaming list (`streaming`; `version` is then the
/// not-older-than version, "" for a consistent start).
pub(crate) fn watch_query(selectors: &Selectors, version: &str, options: &WatchOptions, streaming: bool) -> String {
    let mut q = Query::new();
    q.pair("watch", "true");
    selectors.add(&mut q);
    // Streaming lists end their initial events with a bookmark, so they need bookmarks.
    if options.bookmarks || streaming {
        q.pair("allowWatchBookmarks", "true");
    }
    if let Some(timeout) = options.timeout {
        q.pair("timeoutSeconds", &timeout.as_secs_f64().ceil().max(1.0).to_string());
    }
    if streaming {
        q.pair("sendInitialEvents", "true").pair("resourceVersionMatch", "NotOlderThan");
    }
    q.pair("resourceVersion", version);
    q.finish()
}

/// Sends a GET and turns non-2xx answers into errors.
pub(crate) async fn get(
    client: &kube::Client,
    source: &str,
    verb: Verb,
    uri: &str,
) -> Result<http::Response<kube::client::Body>, SourceError> {
    let request = http::Request::get(uri)
        .header(http::header::ACCEPT, "application/json")
        // One JSON event per line; compressed watch streams are not worth their trouble here.
        .header(http::header::ACCEPT_ENCODING, "identity")
        .body(kube::client::Body::empty())
        .map_err(|e| SourceError::permanent(format!("{source}: cannot build {} request {uri}: {e}", verb.name())))?;
    let response = client
        .send(request)
        .await
        .map_err(|e| SourceError::transient(format!("{source}: {} {uri} failed: {e}", verb.name())).with_source(e))?;
    let http_code = response.status().as_u16();
    if response.status().is_success() {
        return Ok(response);
    }
    let body = response.into_body().collect_bytes().await.unwrap_or_default();
    let status = serde_json::from_slice(&body).unwrap_or_else(|_| crate::codec::Status {
        code: http_code,
        message: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        ..Default::default()
    });
    Err(from_status(source, verb, uri, http_code, &status))
}

pub(crate) type Transform<T> = Option<Arc<dyn Fn(&mut T) + Send + Sync>>;

/// Turns one watch line into an event, or the error an `ERROR` event carries.
fn event<T: 'static>(
    codec: &dyn Codec<T>,
    transform: &Transform<T>,
    line: &[u8],
    source: &str,
    verb: Verb,
    uri: &str,
) -> Result<WatchEvent<T>, SourceError> {
    let line = codec.line(line).map_err(|e| {
        let shown = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
        SourceError::malformed(format!("{source}: {} {uri}: undecodable event {shown:?}: {e}", verb.name()))
            .with_source(e)
    })?;
    let apply = |mut object: T| {
        if let Some(f) = transform {
            f(&mut object);
        }
        object
    };
    Ok(match line {
        Line::Added(o, v) => WatchEvent::Added { object: apply(o), version: Version::from(v) },
        Line::Modified(o, v) => WatchEvent::Modified { object: apply(o), version: Version::from(v) },
        Line::Deleted(o, v) => WatchEvent::Deleted { object: apply(o), version: Version::from(v) },
        Line::Bookmark { version, initial_events_end } => {
            WatchEvent::Bookmark(Bookmark { version: Version::from(version), initial_events_end })
        }
        Line::Error(status) => return Err(from_status(source, verb, uri, status.code, &status)),
    })
}

struct Reader<B, T> {
    body: B,
    buf: BytesMut,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    done: bool,
    codec: Arc<dyn Codec<T>>,
    transform: Transform<T>,
    source: Arc<str>,
    verb: Verb,
    uri: Arc<str>,
}

/// The events of a watch response body: one JSON object per line. An `ERROR` event or a
/// broken connection ends the stream with an error; the server closing it ends it cleanly.
pub(crate) fn events<T: Send + 'static>(
    response: http::Response<kube::client::Body>,
    codec: Arc<dyn Codec<T>>,
    transform: Transform<T>,
    source: Arc<str>,
    verb: Verb,
    uri: Arc<str>,
) -> impl Stream<Item = Result<WatchEvent<T>, SourceError>> + Send + 'static {
    let reader = Reader {
        body: response.into_body().into_data_stream(),
        buf: BytesMut::new(),
        scanned: 0,
        done: false,
        codec,
        transform,
        source,
        verb,
        uri,
    };
    futures::stream::unfold(Some(reader), |state| async move {
        let mut r = state?;
        loop {
            if let Some(pos) = r.buf[r.scanned..].iter().position(|b| *b == b'\n') {
                let line = r.buf.split_to(r.scanned + pos + 1);
                r.scanned = 0;
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                let item = event(r.codec.as_ref(), &r.transform, line, &r.source, r.verb, &r.uri);
                let next = if item.is_err() { None } else { Some(r) };
                return Some((item, next));
            }
            r.scanned = r.buf.len();
            if r.done {
                // A partial last line is what a cut connection leaves: ignore it, like kube does.
                if !r.buf.trim_ascii().is_empty() {
                    tracing::debug!(source = &*r.source, bytes = r.buf.len(), "watch ended inside an event");
                }
                return None;
            }
            match r.body.next().await {
                Some(Ok(chunk)) => r.buf.extend_from_slice(chunk.chunk()),
                Some(Err(e)) => {
                    let err = SourceError::transient(format!(
                        "{}: {} {}: connection broke: {e}",
                        r.source,
                        r.verb.name(),
                        r.uri
                    ))
                    .with_source(e);
                    return Some((Err(err), None));
                }
                None => r.done = true,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pairs(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    fn has(query: &str, k: &str, v: &str) -> bool {
        pairs(query).contains(&(k.to_string(), v.to_string()))
    }

    #[test]
    fn first_list_reads_any_version_from_the_cache() {
        let q = list_query(&Selectors::default(), &ListOptions::first_page(Some(500)));
        assert!(has(&q, "resourceVersion", "0") && has(&q, "resourceVersionMatch", "NotOlderThan"));
        assert!(has(&q, "limit", "500"));
    }

    #[test]
    fn relist_never_goes_back_in_time_and_consistent_reads_send_no_version() {
        let options = ListOptions::first_page(Some(10)).with_min_version(Some(Version::from("42")));
        let q = list_query(&Selectors::default(), &options);
        assert!(has(&q, "resourceVersion", "42") && has(&q, "resourceVersionMatch", "NotOlderThan"));
        let q = list_query(&Selectors::default(), &options.with_consistent(true));
        assert!(!q.contains("resourceVersion"));
    }

    #[test]
    fn continue_pages_carry_only_the_token() {
        let options = ListOptions::first_page(Some(10))
            .with_min_version(Some(Version::from("42")))
            .with_continue(Some("tok".into()));
        let q = list_query(&Selectors { labels: Some("app=web".into()), ..Selectors::default() }, &options);
        assert_eq!(
            pairs(&q),
            vec![
                ("labelSelector".to_string(), "app=web".to_string()),
                ("limit".into(), "10".into()),
                ("continue".into(), "tok".into())
            ]
        );
    }

    #[test]
    fn watch_and_streaming_queries() {
        let mut options = WatchOptions::default();
        options.timeout = Some(Duration::from_millis(2500));
        let q = watch_query(&Selectors::default(), "17", &options, false);
        assert!(has(&q, "watch", "true") && has(&q, "allowWatchBookmarks", "true"));
        assert!(has(&q, "timeoutSeconds", "3") && has(&q, "resourceVersion", "17"));
        assert!(!q.contains("sendInitialEvents"));
        let q = watch_query(&Selectors::default(), "", &options, true);
        assert!(has(&q, "sendInitialEvents", "true") && has(&q, "resourceVersionMatch", "NotOlderThan"));
    }

    #[test]
    fn the_shard_selector_goes_on_every_list_and_watch() {
        let shard = "shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000')";
        let selectors = Selectors { shard: Some(shard.into()), ..Selectors::default() };
        let continued = ListOptions::first_page(Some(10)).with_continue(Some("tok".into()));
        for q in [
            list_query(&selectors, &ListOptions::first_page(Some(10))),
            list_query(&selectors, &continued),
            watch_query(&selectors, "17", &WatchOptions::default(), false),
            watch_query(&selectors, "", &WatchOptions::default(), true),
        ] {
            assert!(has(&q, "shardSelector", shard), "{q}");
        }
    }
}
