//! Bad arguments: exit code 2 and a message that names the wrong part and shows a correct form.

mod common;

use common::run;

/// Runs the binary and checks exit code 2 and that stderr contains every `needle`.
fn rejects(args: &[&str], needles: &[&str]) {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?} exited {:?}; stderr: {stderr}", out.status);
    for needle in needles {
        assert!(stderr.contains(needle), "{args:?}: stderr lacks {needle:?}:\n{stderr}");
    }
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
}

#[test]
fn unknown_scheme_names_the_scheme_and_lists_the_forms() {
    rejects(&["mirror", "ftp://x/y"], &["scheme `ftp`", "etcd://HOST:PORT", "kube://[GROUP/]VERSION/RESOURCE"]);
}

#[test]
fn missing_scheme_prefix_is_rejected_with_every_form() {
    rejects(&["mirror", "127.0.0.1:2379/app"], &["bad scheme", "memory://demo", "consul+http://HOST:PORT"]);
}

#[test]
fn etcd_endpoint_without_port_names_the_endpoint() {
    rejects(&["mirror", "etcd://127.0.0.1/app/"], &["endpoint `127.0.0.1`", ":PORT", "etcd://127.0.0.1:2379/app/"]);
}

#[test]
fn etcd_bad_port_names_the_endpoint() {
    rejects(&["mirror", "etcd://localhost:99999/app/"], &["endpoint `localhost:99999`", "1-65535"]);
}

#[test]
fn etcd_missing_prefix_names_the_prefix() {
    rejects(&["mirror", "etcd://127.0.0.1:2379"], &["bad prefix", "/PREFIX", "etcd://127.0.0.1:2379/app/"]);
}

#[test]
fn kube_path_with_one_segment_shows_the_path_form() {
    rejects(&["mirror", "kube://pods"], &["kube path `pods`", "[GROUP/]VERSION/RESOURCE", "kube://v1/pods"]);
}

#[test]
fn kube_bad_version_names_the_version() {
    rejects(&["mirror", "kube://apps/deployments"], &["kube API version `apps`", "kube://apps/v1/deployments"]);
}

#[test]
fn kube_unknown_query_parameter_names_it_and_lists_the_known_ones() {
    rejects(
        &["mirror", "kube://v1/pods?ns=default"],
        &[
            "query parameter `ns`",
            "namespace, labelSelector, fieldSelector",
            "kube://apps/v1/deployments?namespace=default",
        ],
    );
}

#[test]
fn memory_bad_query_value_names_the_parameter() {
    rejects(&["mirror", "memory://demo?objects=many"], &["query parameter `objects=many`", "memory://demo?objects="]);
}

#[test]
fn etcd2_path_outside_the_keys_api_names_the_path() {
    rejects(
        &["mirror", "etcd2+http://127.0.0.1:2379/keys/app"],
        &["path `/keys/app`", "/v2/keys/", "etcd2+http://127.0.0.1:2379/v2/keys/app"],
    );
}

#[test]
fn consul_bad_host_port_names_the_endpoint() {
    rejects(
        &["mirror", "consul+http://127.0.0.1:port/v1/kv/app"],
        &["endpoint `127.0.0.1:port`", "consul+http://127.0.0.1:8500/v1/kv/app/"],
    );
}

#[test]
fn index_without_equals_shows_the_index_form() {
    rejects(&["mirror", "memory://demo", "--index", "node"], &["--index", "NAME=JSONPOINTER", "node=/spec/nodeName"]);
}

#[test]
fn index_with_relative_pointer_names_the_pointer() {
    rejects(
        &["mirror", "memory://demo", "--index", "node=spec/nodeName"],
        &["JSON pointer `spec/nodeName`", "must start with `/`"],
    );
}

#[test]
fn query_of_an_unknown_index_is_a_usage_error() {
    rejects(
        &["mirror", "memory://demo", "--index", "node=/node", "--query", "zone=a", "--once"],
        &["no --index named `zone`", "--index zone="],
    );
}

#[test]
fn unknown_transform_lists_the_possible_values() {
    rejects(
        &["mirror", "kube://v1/pods", "--transform", "strip-everything"],
        &["strip-everything", "--transform", "strip-managed-fields"],
    );
}

#[test]
fn transform_on_a_non_kube_source_is_refused() {
    rejects(&["mirror", "memory://demo", "--transform", "strip-managed-fields"], &["kube:// sources only"]);
}

#[test]
fn bad_duration_shows_examples() {
    rejects(&["mirror", "memory://demo", "--resync", "soon"], &["`soon` is not a duration", "30s"]);
}

#[test]
fn unreadable_kubeconfig_is_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-kubeconfig");
    let out = common::informer(&["mirror", "kube://v1/pods", "--once"])
        .env("KUBECONFIG", &missing)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("kube://v1/pods") && stderr.contains("KUBECONFIG"), "{stderr}");
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let out = run(&["mirror", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["informer mirror memory://demo --once", "--snapshot", "--index", "Exit codes", "RUST_LOG"] {
        assert!(text.contains(needle), "help lacks {needle}:\n{text}");
    }
}

#[test]
fn metrics_address_in_use_is_exit_code_2_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["mirror", "memory://demo?objects=1&rate=0", "--metrics", &addr, "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("--metrics {addr}")) && stderr.contains("cannot listen"), "{stderr}");
}

#[test]
fn a_closed_stderr_keeps_the_documented_exit_code() {
    // The read end is closed before the child starts: every write to its stderr fails (EPIPE).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let dir = tempfile::tempdir().unwrap();
    let status = common::informer(&["mirror", "kube://v1/pods", "--once"])
        .env("KUBECONFIG", dir.path().join("missing-kubeconfig"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(2),
        "an unreadable kubeconfig is exit code 2 even when stderr is closed (101 = a panic)"
    );
}
