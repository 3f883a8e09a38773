//! Building a `kube::Client` the way the `kube` crate does: kubeconfig (`$KUBECONFIG` or
//! `~/.kube/config`) or in-cluster service-account configuration.
//!
//! One difference: these clients have the `kube` client's own retry layer turned off
//! (`Config::default_retry = false`). That layer retries 429 / 503 / 504 answers up to 15
//! times with exponential backoff before the caller sees them, which delays the reflector's
//! own decisions: a "too large resource version" answer is a 504 that must quickly lead to a
//! consistent relist, and the reflector already backs off (with jitter and a cap) on
//! transient errors. A `kube::Client` built elsewhere works too, only slower to react.

use std::path::{Path, PathBuf};

use kube::Client;
use kube::config::{Config, KubeConfigOptions, Kubeconfig};

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Neither a kubeconfig nor the in-cluster environment gave a configuration.
    #[error("cannot infer a Kubernetes configuration (kubeconfig or in-cluster): {0}")]
    Infer(#[source] kube::Error),
    /// The kubeconfig file could not be read or parsed.
    #[error("cannot read kubeconfig {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The kubeconfig does not describe a usable context.
    #[error("kubeconfig {path}, context {context:?}: {source}")]
    Context {
        /// The file.
        path: PathBuf,
        /// The context asked for (`None`: the current context).
        context: Option<String>,
        /// The cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The client could not be built from the configuration (TLS, proxy, auth settings).
    #[error("cannot build a Kubernetes client: {0}")]
    Build(#[source] kube::Error),
}

/// A client from the environment, configured as `kube::Client::try_default` does it: the
/// kubeconfig (`$KUBECONFIG`, else `~/.kube/config`), else the in-cluster service account.
pub async fn default_client() -> Result<Client, ClientError> {
    let mut config = Config::infer().await.map_err(|e| ClientError::Infer(kube::Error::InferConfig(e)))?;
    config.default_retry = false;
    Client::try_from(config).map_err(ClientError::Build)
}

/// A client from one kubeconfig file and context (`None`: its current context).
pub async fn client_from_kubeconfig(path: &Path, context: Option<&str>) -> Result<Client, ClientError> {
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|source| ClientError::Read { path: path.to_path_buf(), source })?;
    let options = KubeConfigOptions { context: context.map(str::to_string), ..KubeConfigOptions::default() };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|source| {
        ClientError::Context { path: path.to_path_buf(), context: context.map(str::to_string), source }
    })?;
    config.default_retry = false;
    Client::try_from(config).map_err(ClientError::Build)
}
