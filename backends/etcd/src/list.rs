//! The list side: a paged range read at one revision (like etcd's own `clientv3/mirror`).

use etcd_client::GetOptions;
use informer_core::{ListOptions, ListPage, SourceError, Version};

use crate::codec::Codec;
use crate::continue_token::ContinueToken;
use crate::error::classify;
use crate::object::EtcdKeyValue;
use crate::source::Inner;

/// Reads one page. The first page reads the newest state (linearizable unless serializable
/// reads are configured and no consistent read is asked for) and fixes the list's revision;
/// later pages read at that revision from the token's key. No sort order is requested: etcd
/// returns keys in byte order anyway, and a requested sort makes etcd 3.4 read and sort the
/// whole remaining range for every page.
pub(crate) async fn list<C: Codec>(
    inner: &Inner<C>,
    options: &ListOptions,
) -> Result<ListPage<EtcdKeyValue<C::Value>>, SourceError> {
    let range = &inner.config.range;
    let token = match options.continue_token.as_deref() {
        Some(token) => Some(
            ContinueToken::parse(token)
                .map_err(|e| SourceError::permanent(format!("{}: list: {e}", inner.name)).with_source(e))?,
        ),
        None => None,
    };
    let start = token.as_ref().map_or(range.start(), |t| t.next_key.as_slice());
    let mut get = GetOptions::new().with_range(range.end());
    if let Some(limit) = options.limit {
        get = get.with_limit(i64::from(limit));
    }
    match &token {
        Some(t) => get = get.with_revision(t.revision),
        None if inner.config.serializable_reads && !options.consistent => get = get.with_serializable(),
        None => {}
    }
    let describe_page = || match &token {
        Some(t) => format!(
            "{}: list page at revision {} from key {:?}",
            inner.name,
            t.revision,
            crate::key::key_to_string(&t.next_key)
        ),
        None => format!("{}: list (first page)", inner.name),
    };
    let mut kv = inner.kv.clone();
    let request = kv.get(start.to_vec(), Some(get));
    let mut response = match tokio::time::timeout(inner.config.request_timeout, request).await {
        Ok(response) => response.map_err(|e| classify(e, describe_page))?,
        Err(_) => {
            return Err(SourceError::transient(format!(
                "{}: no answer within {:?}",
                describe_page(),
                inner.config.request_timeout
            )));
        }
    };
    let header_revision = response.header().map(|h| h.revision()).unwrap_or(0);
    let revision = match &token {
        Some(t) => t.revision,
        None if header_revision > 0 => header_revision,
        None => return Err(SourceError::malformed(format!("{}: the answer has no header revision", describe_page()))),
    };
    if token.is_none() && !options.consistent {
        check_min_version(inner, options.min_version.as_ref(), revision)?;
    }
    let more = response.more();
    let kvs = response.take_kvs();
    let next_key = match (more, kvs.last()) {
        (false, _) => None,
        (true, Some(last)) => {
            let mut next = last.key().to_vec();
            next.push(0);
            Some(next)
        }
        (true, None) => {
            return Err(SourceError::malformed(format!("{}: etcd said `more` but sent no key", describe_page())));
        }
    };
    let mut items = Vec::with_capacity(kvs.len());
    for kv in kvs {
        match inner.decode(kv.0) {
            Ok(item) => items.push(item),
            Err(err) => inner.value_failed(err)?,
        }
    }
    Ok(ListPage {
        items,
        version: Version::from(revision.to_string()),
        continue_token: next_key.map(|next_key| ContinueToken { revision, next_key }.encode()),
    })
}

/// A list must not be older than `min_version`. A linearizable read never is (the version came
/// from this cluster), but a serializable one from a lagging member, or a cluster restored
/// from an older backup, can be: that is `Expired`, and the reflector retries with a
/// consistent read.
fn check_min_version<C: Codec>(inner: &Inner<C>, min: Option<&Version>, revision: i64) -> Result<(), SourceError> {
    let Some(min) = min else { return Ok(()) };
    let Ok(min_revision) = min.parse::<i64>() else {
        return Err(SourceError::expired(format!(
            "{}: list: the minimum version {min:?} is not an etcd revision; listing the newest state instead",
            inner.name
        )));
    };
    if revision < min_revision {
        return Err(SourceError::expired(format!(
            "{}: list: etcd answered at revision {revision}, older than the revision {min_revision} already seen",
            inner.name
        )));
    }
    Ok(())
}
