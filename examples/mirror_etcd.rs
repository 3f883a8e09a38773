//! Mirror an etcd key prefix into a cache and print every change as it happens.
//!
//! ```sh
//! cargo run --example mirror_etcd -- 127.0.0.1:2379 /config/
//! ```
//!
//! An [`Informer`] lists the prefix in pages at one revision, then watches it; the local
//! [`Cache`](informer::Cache) always holds the prefix's current keys, and a subscriber
//! prints each change (`ADDED`, `UPDATED`, `DELETED`) with the key's revision. Stop it with
//! Ctrl-C; it prints the number of keys mirrored.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use informer::etcd::{EtcdConfig, EtcdKeyValue, EtcdSource, KeyRange, TextCodec};
use informer::{CancellationToken, Event, Informer, InformerConfig, KeyFn, Store};

type Kv = EtcdKeyValue<String>;

fn describe(event: &Event<Kv>) -> String {
    match event {
        Event::Added { object, initial } => {
            let tag = if *initial { "LISTED " } else { "ADDED  " };
            format!("{tag} {} = {:?} (rev {})", object.key, object.value, object.mod_revision)
        }
        Event::Updated { new, .. } => format!("UPDATED {} = {:?} (rev {})", new.key, new.value, new.mod_revision),
        Event::Deleted(deletion) => match deletion.object() {
            Some(last) => format!("DELETED {} (was {:?})", last.key, last.value),
            None => "DELETED (final state unknown)".to_string(),
        },
    }
}

/// Mirrors `prefix` from `endpoints`, printing changes to `out`, until `stop` fires. Returns
/// the mirrored keys and values, and how many events were printed.
pub async fn mirror(
    endpoints: Vec<String>,
    prefix: &str,
    stop: CancellationToken,
    mut out: impl Write + Send + 'static,
) -> Result<(BTreeMap<String, String>, usize), Box<dyn std::error::Error + Send + Sync>> {
    let config = EtcdConfig::new(endpoints, KeyRange::prefix(prefix));
    let source = EtcdSource::connect(config, TextCodec).await?;
    let informer = Informer::with_cache(source, KeyFn::keyed(), InformerConfig::default());
    let handle = informer.handle();
    let mut events = handle.subscribe();
    let task = tokio::spawn(informer.run(stop.clone()));
    let mut printed = 0;
    while let Some(event) = events.recv().await {
        writeln!(out, "{}", describe(&event))?;
        printed += 1;
    }
    task.await??;
    let state = handle.store().list().iter().map(|kv| (kv.key.to_string(), kv.value.clone())).collect();
    Ok((state, printed))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "127.0.0.1:2379".to_string());
    let prefix = args.next().unwrap_or_else(|| "/".to_string());
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    let (state, printed) = mirror(vec![endpoint], &prefix, stop, std::io::stdout()).await?;
    eprintln!("mirrored {} keys under {prefix:?}; {printed} events", state.len());
    tokio::time::sleep(Duration::ZERO).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use informer::etcd::etcd_client::{Client, GetOptions};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mirrors_a_prefix_and_prints_every_change() {
        let etcd = informer_tests::etcd::EtcdServer::start().expect("etcd starts (install etcd-server)");
        let mut client = Client::connect([etcd.endpoint()], None).await.unwrap();
        for i in 0..20 {
            client.put(format!("/app/k{i:02}"), format!("v{i}"), None).await.unwrap();
        }
        client.put("/other/x", "not mirrored", None).await.unwrap();

        let stop = CancellationToken::new();
        let out = Lines::default();
        let task = tokio::spawn(mirror(vec![etcd.endpoint()], "/app/", stop.clone(), out.clone()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.put("/app/k00", "changed", None).await.unwrap();
        client.delete("/app/k01", None).await.unwrap();
        client.put("/app/new", "added", None).await.unwrap();
        let text = || String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        for _ in 0..200 {
            if text().contains("ADDED   /app/new") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.cancel();
        let (state, printed) = task.await.unwrap().unwrap();

        let server = client.get("/app/", Some(GetOptions::new().with_prefix())).await.unwrap();
        let expected: BTreeMap<String, String> = server
            .kvs()
            .iter()
            .map(|kv| (kv.key_str().unwrap().to_string(), kv.value_str().unwrap().to_string()))
            .collect();
        assert_eq!(state, expected);
        let text = text();
        assert_eq!(text.matches("LISTED ").count(), 20, "{text}");
        assert!(text.contains("UPDATED /app/k00 = \"changed\""), "{text}");
        assert!(text.contains("DELETED /app/k01 (was \"v1\")"), "{text}");
        assert_eq!(printed, 23);
    }
}
