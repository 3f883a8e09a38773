//! The watch side: one etcd watch per [`ListerWatcher::watch`](informer_core::ListerWatcher::watch)
//! call, turned into [`WatchEvent`]s.
//!
//! * The watch starts at `version + 1` and asks for previous values, so a delete carries the
//!   last state of the key, which is what the store needs to find it.
//! * Events of one etcd revision (one transaction) arrive in one response (etcd never splits a
//!   revision) and all carry that revision. They are queued together, so the stream has the
//!   whole transaction ready once it yields its first event: the reflector's batch boundary
//!   (see `informer_core::Store::apply_batch`).
//! * Progress notifications become bookmarks: the timed ones (they carry this watch's id) always;
//!   requested ones (watch id -1) only where the server is new enough to send them in order.
//! * A `canceled` answer with `compact_revision` is *expired*: the revisions after `version` are
//!   gone, so the reflector must relist; resuming at `compact_revision` would silently skip the
//!   changes in between.
//! * [`WatchOptions::timeout`] ends the stream cleanly after that long (etcd has no server-side
//!   watch timeout); the reflector then resumes from the last revision, which spreads
//!   reconnects over the endpoints.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::proto::{PbEvent, PbWatchResponse};
use etcd_client::{WatchRequestSender, WatchResponse, WatchResponseStream};
use informer_core::{SourceError, Version, WatchOptions, WatchStream};
use tokio::time::Instant;

use crate::codec::Codec;
use crate::error::{cancel_kind, classify};
use crate::events::{Item, bookmark, convert_events};
use crate::object::EtcdKeyValue;
use crate::source::Inner;

/// Starts a watch of the source's range after `version`.
pub(crate) async fn watch<C: Codec>(
    inner: Arc<Inner<C>>,
    version: &Version,
    options: &WatchOptions,
) -> Result<WatchStream<EtcdKeyValue<C::Value>>, SourceError> {
    let revision: i64 = version.parse().map_err(|_| {
        SourceError::expired(format!(
            "{}: watch: version {version:?} is not an etcd revision; listing again",
            inner.name
        ))
    })?;
    let start = revision.saturating_add(1);
    let progress_every = match inner.config.progress_request_interval {
        Some(every) if options.bookmarks && requested_progress_is_safe_on(&inner).await => Some(every),
        _ => None,
    };
    let range = &inner.config.range;
    let mut request =
        etcd_client::WatchOptions::new().with_range(range.end().to_vec()).with_start_revision(start).with_prev_key();
    if options.bookmarks {
        request = request.with_progress_notify();
    }
    let context = format!("{}: watch from revision {start}", inner.name);
    let mut client = inner.watch.clone();
    let created = client.watch(range.start().to_vec(), Some(request));
    let stream = match tokio::time::timeout(inner.config.request_timeout, created).await {
        Ok(stream) => stream.map_err(|e| classify(e, || context.clone()))?,
        Err(_) => {
            return Err(SourceError::transient(format!(
                "{context}: no answer within {:?}",
                inner.config.request_timeout
            )));
        }
    };
    let (sender, responses) = stream.split();
    let now = Instant::now();
    let state = WatchState {
        inner,
        context,
        sender,
        responses,
        bookmarks: options.bookmarks,
        watch_id: None,
        last_revision: revision,
        pending: VecDeque::new(),
        done: false,
        deadline: options.timeout.map(|t| now + t),
        progress_every,
        next_progress: progress_every.map(|every| now + every),
    };
    Ok(Box::pin(futures::stream::unfold(state, WatchState::next)))
}

struct WatchState<C: Codec> {
    inner: Arc<Inner<C>>,
    context: String,
    /// Kept so the request side stays open; dropping it would end the watch.
    sender: WatchRequestSender,
    responses: WatchResponseStream,
    bookmarks: bool,
    watch_id: Option<i64>,
    last_revision: i64,
    pending: VecDeque<Item<C::Value>>,
    done: bool,
    deadline: Option<Instant>,
    progress_every: Option<Duration>,
    next_progress: Option<Instant>,
}

impl<C: Codec> WatchState<C> {
    async fn next(mut self) -> Option<(Item<C::Value>, Self)> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                if item.is_err() {
                    // An error ends the stream: nothing after it may be applied.
                    self.pending.clear();
                    self.done = true;
                }
                return Some((item, self));
            }
            if self.done {
                return None;
            }
            let progress_at = self.next_progress;
            tokio::select! {
                biased;
                message = self.responses.message() => self.on_message(message),
                _ = sleep_until_opt(self.deadline) => self.done = true,
                _ = sleep_until_opt(progress_at) => {
                    // A failed send means the stream is broken; the response side reports it.
                    let _ = self.sender.request_progress().await;
                    self.next_progress = self.progress_every.map(|every| Instant::now() + every);
                }
            }
        }
    }

    fn fail(&mut self, err: SourceError) {
        self.pending.push_back(Err(err));
    }

    fn on_message(&mut self, message: Result<Option<WatchResponse>, etcd_client::Error>) {
        match message {
            Ok(Some(response)) => self.on_response(response.0),
            Ok(None) => {
                let err = SourceError::transient(format!("{}: etcd closed the watch stream", self.context));
                self.fail(err);
            }
            Err(err) => {
                let err = classify(err, || format!("{}: watch stream broke", self.context));
                self.fail(err);
            }
        }
    }

    fn on_response(&mut self, response: PbWatchResponse) {
        if response.compact_revision > 0 {
            let err = SourceError::expired(format!(
                "{}: etcd compacted its history at revision {}; listing again",
                self.context, response.compact_revision
            ));
            return self.fail(err);
        }
        if response.canceled {
            let reason = if response.cancel_reason.is_empty() { "no reason given" } else { &response.cancel_reason };
            let err = SourceError::new(
                cancel_kind(reason),
                format!("{}: etcd cancelled the watch (watch id {}): {reason}", self.context, response.watch_id),
            );
            let err = if reason.contains("permission denied") {
                err.with_reason(informer_core::SyncFailureKind::Forbidden)
            } else {
                err
            };
            return self.fail(err);
        }
        if response.created {
            self.watch_id = Some(response.watch_id);
            // A server behind the version asked for (restored from an older backup, or another
            // cluster) would wait silently for revisions it may never reach: relist instead.
            let current = response.header.as_ref().map_or(0, |h| h.revision);
            if current > 0 && current < self.last_revision {
                let err = SourceError::expired(format!(
                    "{}: etcd is at revision {current}, older than the revision {} already seen; listing again",
                    self.context, self.last_revision
                ));
                return self.fail(err);
            }
        }
        if response.events.is_empty() {
            if !response.created {
                self.on_progress(&response);
            }
            return;
        }
        self.on_events(response.events);
    }

    /// A response without events: a progress notification.
    fn on_progress(&mut self, response: &PbWatchResponse) {
        let revision = response.header.as_ref().map_or(0, |h| h.revision);
        let timed = Some(response.watch_id) == self.watch_id;
        let requested = response.watch_id == -1 && self.progress_every.is_some();
        if self.bookmarks && (timed || requested) && revision > 0 && revision >= self.last_revision {
            self.last_revision = revision;
            self.pending.push_back(Ok(bookmark(revision)));
        }
    }

    fn on_events(&mut self, events: Vec<PbEvent>) {
        match convert_events(&self.inner, &self.context, events, &mut self.pending) {
            Ok(revision) => self.last_revision = self.last_revision.max(revision),
            Err(err) => self.fail(err),
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// How long a server-version check is trusted before it is asked again.
const VERSION_CHECK_TTL: Duration = Duration::from_secs(600);

/// Whether requested progress notifications are safe on the server: its version from the
/// Status API, cached for [`VERSION_CHECK_TTL`]; false if it cannot be asked.
async fn requested_progress_is_safe_on<C: Codec>(inner: &Inner<C>) -> bool {
    if let Some((at, safe)) = *inner.progress_safe.lock().unwrap_or_else(|e| e.into_inner())
        && at.elapsed() < VERSION_CHECK_TTL
    {
        return safe;
    }
    let mut client = inner.maintenance.clone();
    let status = client.status();
    let timeout = inner.config.request_timeout.min(Duration::from_secs(5));
    match tokio::time::timeout(timeout, status).await {
        Ok(Ok(status)) => {
            let safe = requested_progress_is_safe(status.version());
            tracing::debug!(source = %inner.name, version = status.version(), safe, "etcd server version");
            *inner.progress_safe.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), safe));
            safe
        }
        _ => false,
    }
}

/// True if an etcd server of `version` sends requested progress notifications only after every
/// event before them (fixed in 3.4.31 and 3.5.13, etcd issue 15220).
pub(crate) fn requested_progress_is_safe(version: &str) -> bool {
    let mut parts = version.trim_start_matches('v').split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let (Some(Some(major)), Some(Some(minor)), Some(Some(patch))) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    match (major, minor) {
        (3, 4) => patch >= 31,
        (3, 5) => patch >= 13,
        (3, m) => m >= 6,
        (m, _) => m > 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_progress_is_used_only_on_fixed_server_versions() {
        for (version, safe) in [
            ("3.4.23", false),
            ("3.4.31", true),
            ("3.5.12", false),
            ("3.5.13", true),
            ("3.6.0", true),
            ("3.6.0-alpha.0", true),
            ("3.3.27", false),
            ("4.0.0", true),
            ("garbage", false),
            ("", false),
        ] {
            assert_eq!(requested_progress_is_safe(version), safe, "{version}");
        }
    }
}
