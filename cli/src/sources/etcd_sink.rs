//! `informer mirror etcd://SRC/prefix/ --to etcd://DST/prefix/`: an etcd prefix mirrored into
//! another etcd through an [`EtcdSink`]: one destination transaction per source revision,
//! destination-only keys pruned, and a state key that lets a restart resume without listing.

use std::path::Path;
use std::time::Duration;

use informer_core::{CancellationToken, Reflector};
use informer_etcd::etcd_client::{Certificate, Identity, TlsOptions};
use informer_etcd::{EtcdConfig, EtcdSink, EtcdSource, KeyRange, RawCodec, SinkConfig, SinkError};
use tracing::{info, warn};

use crate::args::MirrorArgs;
use crate::mirror::{MirrorError, MirrorOptions, Shutdown};
use crate::source_spec::EtcdSpec;

/// How long a stopping mirror waits for the sink to write what it queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable read for the destination password when `--to-password` is absent.
pub const PASSWORD_ENV: &str = "INFORMER_TO_PASSWORD";

/// The destination's connection settings from `--to` and the `--to-*` options.
pub fn destination_config(dest: &EtcdSpec, args: &MirrorArgs) -> Result<EtcdConfig, MirrorError> {
    let tls = args.to_ca_file.is_some() || args.to_cert.is_some();
    let endpoints: Vec<String> =
        dest.endpoints.iter().map(|e| if tls { format!("https://{e}") } else { format!("http://{e}") }).collect();
    let mut config = EtcdConfig::new(endpoints, KeyRange::prefix(dest.prefix.as_bytes().to_vec()));
    if tls {
        let read = |flag: &str, path: &Path| {
            std::fs::read(path).map_err(|e| MirrorError::Usage(format!("{flag} {}: {e}", path.display())))
        };
        let mut options = TlsOptions::new();
        if let Some(ca) = &args.to_ca_file {
            options = options.ca_certificate(Certificate::from_pem(read("--to-ca-file", ca)?));
        }
        if let (Some(cert), Some(key)) = (&args.to_cert, &args.to_key) {
            options = options.identity(Identity::from_pem(read("--to-cert", cert)?, read("--to-key", key)?));
        }
        config = config.with_tls(options);
    }
    if let Some(user) = &args.to_user {
        let password = match &args.to_password {
            Some(password) => password.clone(),
            None => std::env::var(PASSWORD_ENV).map_err(|_| {
                MirrorError::Usage(format!(
                    "--to-user {user} needs --to-password or the {PASSWORD_ENV} environment variable"
                ))
            })?,
        };
        config = config.with_user(user.clone(), password);
    }
    Ok(config)
}

/// Mirrors the etcd SOURCE `spec` into the `--to` destination until a signal, `--once`, a
/// refused write, or `--max-retries`.
pub async fn run(
    spec: &EtcdSpec,
    dest: &EtcdSpec,
    args: &MirrorArgs,
    options: &MirrorOptions,
) -> Result<(), MirrorError> {
    let mut shutdown = Shutdown::new()?;
    let endpoints: Vec<String> = spec.endpoints.iter().map(|e| e.to_string()).collect();
    let source_config = EtcdConfig::new(endpoints, KeyRange::prefix(spec.prefix.as_bytes().to_vec()));
    let source = EtcdSource::connect(source_config, RawCodec)
        .await
        .map_err(|e| MirrorError::Usage(format!("{}: {e}", options.source)))?;
    let mut sink_config = SinkConfig::new(destination_config(dest, args)?, spec.prefix.as_bytes(), &options.source)
        .with_max_txn_ops(args.max_txn_ops as usize);
    if let Some(key) = &args.state_key {
        sink_config = sink_config.with_state_key(key.as_bytes());
    }
    let sink = EtcdSink::connect(sink_config).await.map_err(|e| match e {
        SinkError::Config { .. } | SinkError::ForeignState { .. } => MirrorError::Usage(format!("--to: {e}")),
        other => MirrorError::Runtime(format!("--to: {other}")),
    })?;
    let mut reflector = Reflector::new(source, sink.clone(), options.reflector.clone());
    // `--once` means "make the destination equal to the source now": a list, which writes only
    // the differences. Resuming would count as synced before anything was caught up.
    if let Some(version) = sink.resume_point().filter(|_| !options.once) {
        info!(destination = sink.describe(), %version, "resuming from the destination's state record");
        reflector = reflector.resume_from(version);
    }
    let handle = reflector.handle();
    let cancel = CancellationToken::new();
    let mut task = tokio::spawn(reflector.run(cancel.clone()));
    let once = async {
        if options.once && handle.wait_synced().await { sink.flush().await } else { std::future::pending().await }
    };
    let outcome = tokio::select! {
        result = &mut task => Some(result),
        err = sink.failed() => {
            cancel.cancel();
            let _ = task.await;
            return Err(MirrorError::Runtime(err.to_string()));
        }
        flushed = once => {
            flushed.map_err(|e| MirrorError::Runtime(e.to_string()))?;
            info!(destination = sink.describe(), stats = ?sink.stats(), "initial sync written; exiting (--once)");
            None
        }
        signal = shutdown.recv() => {
            info!(signal, "stopping; writing what is queued");
            None
        }
    };
    cancel.cancel();
    let result = match outcome {
        Some(result) => result,
        None => task.await,
    };
    match tokio::time::timeout(FLUSH_TIMEOUT, sink.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(MirrorError::Runtime(err.to_string())),
        Err(_) => warn!(
            destination = sink.describe(),
            "destination did not take the queued writes within {FLUSH_TIMEOUT:?}; the next run resumes before them"
        ),
    }
    info!(destination = sink.describe(), stats = ?sink.stats(), metrics = ?handle.metrics(), "mirror stopped");
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(MirrorError::GaveUp(err)),
        Err(err) => Err(MirrorError::Runtime(format!("the reflector task failed: {err}"))),
    }
}
