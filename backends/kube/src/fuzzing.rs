//! Entry points for the fuzz targets (`fuzz/fuzz_targets/kube_wire.rs`): the decoders behind
//! `KubeSource`'s list bodies and watch lines, reachable without a server. Not a stable API.

use k8s_openapi::api::core::v1::Pod;

use crate::codec::{Codec, Line, Raw, Typed, list_continue_token};
use crate::raw::{RawObject, RawOptions};

/// What a decoded watch line says, in a few words.
fn describe<T>(line: Line<T>, key: impl Fn(&T) -> String) -> String {
    match line {
        Line::Added(o, v) => format!("ADDED {} {v}", key(&o)),
        Line::Modified(o, v) => format!("MODIFIED {} {v}", key(&o)),
        Line::Deleted(o, v) => format!("DELETED {} {v}", key(&o)),
        Line::Bookmark { version, initial_events_end } => format!("BOOKMARK {version} {initial_events_end}"),
        Line::Error(status) => format!("ERROR {} {} {}", status.code, status.reason, status.message),
    }
}

fn pod_key(pod: &Pod) -> String {
    crate::key_fn::<Pod>().key(pod).map(|k| k.to_string()).unwrap_or_else(|e| e.to_string())
}

/// One watch line as `KubeSource<Pod>` decodes it.
pub fn watch_line_pod(line: &[u8]) -> Result<String, String> {
    Typed::<Pod>::new().line(line).map(|l| describe(l, pod_key)).map_err(|e| e.to_string())
}

/// One watch line as `KubeSource<RawObject>` decodes it.
pub fn watch_line_raw(line: &[u8], options: &RawOptions) -> Result<String, String> {
    Raw(options.clone())
        .line(line)
        .map(|l| describe(l, |o: &RawObject| o.object_key().to_string()))
        .map_err(|e| e.to_string())
}

/// A list body as `KubeSource<Pod>` decodes it: the number of items.
pub fn list_body_pod(body: &[u8]) -> Result<usize, String> {
    Typed::<Pod>::new().list(body).map(|p| p.items.len()).map_err(|e| e.to_string())
}

/// A list body as `KubeSource<RawObject>` decodes it: the number of items.
pub fn list_body_raw(body: &[u8], options: &RawOptions) -> Result<usize, String> {
    Raw(options.clone()).list(body).map(|p| p.items.len()).map_err(|e| e.to_string())
}

/// The continue token read ahead of decoding a list body.
pub fn continue_token(body: &[u8]) -> Option<String> {
    list_continue_token(body)
}
