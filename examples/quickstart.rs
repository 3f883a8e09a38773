//! Quick start: mirror an in-memory source under synthetic churn into an indexed store.
//!
//! ```sh
//! cargo run --example quickstart
//! cargo run --example quickstart -- 100000 10   # 100 000 objects, 10 seconds of churn
//! ```
//!
//! The source holds pod-like objects and changes them thousands of times a second; along the
//! way it drops every watch twice and expires its history once, as real servers do. The
//! reflector keeps an `Indexer` (with a by-node and a by-phase index) equal to it. Progress is
//! printed every half second; at the end the churn stops and the program checks that the store
//! equals the source key for key and revision for revision, then exits 0 (or 1 if not).

use std::sync::Arc;
use std::time::{Duration, Instant};

use informer::memory::demo::{self, DemoPod};
use informer::memory::{MemoryObject, MemorySource};
use informer::{CancellationToken, IndexFn, Indexer, Indexers, KeyFn, Reflector, ReflectorConfig, Store};

type Pod = MemoryObject<DemoPod>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let objects: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20_000);
    let seconds: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);

    // The source: an in-memory, versioned collection (the embedded default backend).
    let source = MemorySource::<DemoPod>::new();
    demo::populate(&source, objects, 42);
    println!("source: {objects} pods at revision {}", source.revision());

    // The store: an indexer with two secondary indexes.
    let indexer = Arc::new(Indexer::new(KeyFn::keyed()));
    indexer.add_indexers(
        Indexers::new()
            .with("node", IndexFn::single(|p: &Pod| p.value().node.as_str()))
            .with("phase", IndexFn::single(|p: &Pod| p.value().phase.as_str())),
    )?;

    // The reflector: list, then watch, forever (until cancelled).
    let reflector = Reflector::new(source.clone(), Arc::clone(&indexer), ReflectorConfig::default());
    let handle = reflector.handle();
    let stop = CancellationToken::new();
    let reflector_task = tokio::spawn(reflector.run(stop.clone()));

    let started = Instant::now();
    handle.wait_synced().await;
    println!("synced {} objects in {:?}", indexer.len(), started.elapsed());

    // Synthetic churn, with faults real servers produce.
    let stop_churn = CancellationToken::new();
    let churn = tokio::spawn(demo::churn(source.clone(), 5_000, 7, stop_churn.clone()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tick = 0u32;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tick += 1;
        match tick {
            2 | 4 => source.faults().drop_watches(),
            3 => source.faults().expire_history(),
            _ => {}
        }
        let m = handle.metrics();
        println!(
            "[{:>4.1}s] store {:>6} objects | source rev {:>7} | mirror at {:>7} | events {:>6} | watches {} | relists {}",
            started.elapsed().as_secs_f64(),
            indexer.len(),
            source.revision(),
            handle.last_synced_version().as_deref().unwrap_or("-"),
            m.events_total(),
            m.watches,
            m.relists,
        );
    }
    stop_churn.cancel();
    let stats = churn.await?;

    // Converge, then check the mirror key for key.
    let target = source.revision().to_string();
    let wait = Instant::now();
    while handle.last_synced_version().as_deref() != Some(target.as_str()) {
        if wait.elapsed() > Duration::from_secs(30) {
            eprintln!("mirror did not catch up with revision {target}");
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let expected = source.snapshot();
    let mut mismatches = 0usize;
    for (key, obj) in &expected {
        match indexer.get_by_key(key) {
            Some(mine) if mine.mod_revision() == obj.mod_revision() && mine.value() == obj.value() => {}
            _ => mismatches += 1,
        }
    }
    mismatches += indexer.len().abs_diff(expected.len());

    println!(
        "churn: {} created, {} updated, {} deleted; reflector: {} lists ({} relists), {} watches, {} events",
        stats.created,
        stats.updated,
        stats.deleted,
        handle.metrics().lists,
        handle.metrics().relists,
        handle.metrics().watches,
        handle.metrics().events_total()
    );
    let mut nodes = indexer.list_index_values("node")?;
    nodes.sort();
    let per_node: Vec<String> = nodes
        .iter()
        .take(4)
        .map(|n| format!("{n}: {}", indexer.index_keys("node", n).map(|k| k.len()).unwrap_or(0)))
        .collect();
    println!("pods per node (first 4 of {}): {}", nodes.len(), per_node.join(", "));
    println!("running: {}", indexer.by_index("phase", "Running")?.len());

    stop.cancel();
    reflector_task.await??;
    if mismatches == 0 {
        println!("OK: the store equals the source ({} objects at revision {target})", expected.len());
        Ok(())
    } else {
        eprintln!("FAILED: {mismatches} keys differ between the store and the source");
        std::process::exit(1);
    }
}
