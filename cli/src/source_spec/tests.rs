use super::*;

fn ok(s: &str) -> SourceSpec {
    SourceSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> SpecError {
    SourceSpec::parse(s).expect_err(s)
}

fn hp(host: &str, port: u16) -> HostPort {
    HostPort { host: host.to_string(), port }
}

#[test]
fn memory_demo_uses_defaults_without_parameters() {
    assert_eq!(ok("memory://demo"), SourceSpec::Memory(MemorySpec::default()));
}

#[test]
fn memory_demo_reads_objects_rate_and_seed() {
    assert_eq!(
        ok("memory://demo?objects=10000&rate=500&seed=7"),
        SourceSpec::Memory(MemorySpec { objects: 10_000, rate: 500, seed: 7 })
    );
}

#[test]
fn memory_rejects_other_names_unknown_and_bad_parameters() {
    assert_eq!(err("memory://prod").part, "memory source `prod`");
    let e = err("memory://demo?size=3");
    assert_eq!(e.part, "query parameter `size`");
    assert!(e.reason.contains("objects, rate, seed"));
    assert_eq!(err("memory://demo?objects=-1").part, "query parameter `objects=-1`");
    assert!(err("memory://demo?objects=99999999999").reason.contains("at most"));
    assert_eq!(err("memory://demo?rate").part, "query parameter `rate`");
}

#[test]
fn etcd_reads_one_or_more_endpoints_and_the_prefix_with_its_slash() {
    assert_eq!(
        ok("etcd://127.0.0.1:2379/app/"),
        SourceSpec::Etcd(EtcdSpec { endpoints: vec![hp("127.0.0.1", 2379)], prefix: "/app/".into() })
    );
    assert_eq!(
        ok("etcd://a:1,b.example:2,[::1]:3/"),
        SourceSpec::Etcd(EtcdSpec {
            endpoints: vec![hp("a", 1), hp("b.example", 2), hp("[::1]", 3)],
            prefix: "/".into()
        })
    );
}

#[test]
fn etcd_errors_name_the_bad_endpoint_or_the_missing_prefix() {
    let e = err("etcd://127.0.0.1/app/");
    assert_eq!(e.part, "endpoint `127.0.0.1`");
    assert!(e.reason.contains(":PORT"));
    assert_eq!(e.expected, forms::ETCD);
    assert_eq!(err("etcd://h:99999/a").part, "endpoint `h:99999`");
    assert_eq!(err("etcd://h:0/a").part, "endpoint `h:0`");
    assert_eq!(err("etcd://a:1,/x").part, "endpoint ``");
    assert_eq!(err("etcd://ho st:1/x").part, "endpoint `ho st:1`");
    assert_eq!(err("etcd://127.0.0.1:2379").part, "prefix");
    assert_eq!(err("etcd:///app").part, "endpoints");
    assert_eq!(err("etcd://[::1/app").part, "endpoint `[::1`");
}

#[test]
fn kube_reads_core_and_grouped_resources_with_optional_parameters() {
    let SourceSpec::Kube(pods) = ok("kube://v1/pods") else { panic!() };
    assert_eq!((pods.group, pods.version.as_str(), pods.resource.as_str()), (None, "v1", "pods"));
    assert_eq!((pods.namespace, pods.label_selector, pods.field_selector), (None, None, None));

    let SourceSpec::Kube(d) =
        ok("kube://apps/v1/deployments?namespace=default&labelSelector=app%3Dweb,tier!=db&fieldSelector=a.b=c")
    else {
        panic!()
    };
    assert_eq!(d.group.as_deref(), Some("apps"));
    assert_eq!(d.api_version(), "apps/v1");
    assert_eq!(d.namespace.as_deref(), Some("default"));
    assert_eq!(d.label_selector.as_deref(), Some("app=web,tier!=db"));
    assert_eq!(d.field_selector.as_deref(), Some("a.b=c"));

    let SourceSpec::Kube(i) = ok("kube://networking.k8s.io/v1beta1/ingresses/") else { panic!() };
    assert_eq!(i.api_version(), "networking.k8s.io/v1beta1");
}

#[test]
fn kube_errors_name_the_bad_path_segment_or_parameter() {
    assert_eq!(err("kube://pods").part, "kube path `pods`");
    assert_eq!(err("kube://a/b/c/d").part, "kube path `a/b/c/d`");
    assert_eq!(err("kube://apps/pods").part, "kube API version `apps`");
    assert_eq!(err("kube://v01/pods").part, "kube API version `v01`");
    assert_eq!(err("kube://v1beta/pods").part, "kube API version `v1beta`");
    assert_eq!(err("kube://v1/Pods").part, "kube resource `Pods`");
    assert_eq!(err("kube://Apps/v1/deployments").part, "kube API group `Apps`");
    assert_eq!(err("kube://v1/pods?ns=a").part, "query parameter `ns`");
    assert_eq!(err("kube://v1/pods?namespace=").part, "query parameter `namespace=`");
    assert_eq!(err("kube://v1/pods?labelSelector=").part, "query parameter `labelSelector`");
    assert_eq!(err("kube://v1/pods?=x").part, "query parameter `=x`");
    assert_eq!(err("kube://pods").expected, forms::KUBE);
}

#[test]
fn etcd2_and_consul_read_endpoint_and_path_after_the_api_prefix() {
    assert_eq!(
        ok("etcd2+http://127.0.0.1:2379/v2/keys/app"),
        SourceSpec::Etcd2(Etcd2Spec { endpoint: hp("127.0.0.1", 2379), dir: "app".into() })
    );
    assert_eq!(
        ok("etcd2+http://h:1/v2/keys"),
        SourceSpec::Etcd2(Etcd2Spec { endpoint: hp("h", 1), dir: String::new() })
    );
    assert_eq!(
        ok("consul+http://127.0.0.1:8500/v1/kv/app/"),
        SourceSpec::Consul(ConsulSpec { endpoint: hp("127.0.0.1", 8500), prefix: "app/".into() })
    );
}

#[test]
fn etcd2_and_consul_errors_name_the_path_or_endpoint() {
    assert_eq!(err("etcd2+http://127.0.0.1:2379/keys/app").part, "path `/keys/app`");
    assert_eq!(err("etcd2+http://127.0.0.1/v2/keys/app").part, "endpoint `127.0.0.1`");
    assert_eq!(err("consul+http://h:8500/v1/kvx").part, "path `/v1/kvx`");
    assert_eq!(err("consul+http://h:8500/v1/kv/a?recurse").part, "path `/v1/kv/a?recurse`");
    assert_eq!(err("consul://h:8500/v1/kv/a").part, "scheme `consul`");
}

#[test]
fn http_urls_keep_the_text_and_default_the_port() {
    let SourceSpec::Http(h) = ok("http://127.0.0.1:8080/items?x=1") else { panic!() };
    assert_eq!(
        (h.url.as_str(), h.endpoint.clone(), h.tls),
        ("http://127.0.0.1:8080/items?x=1", hp("127.0.0.1", 8080), false)
    );
    let SourceSpec::Http(s) = ok("https://example.com/list") else { panic!() };
    assert_eq!((s.endpoint, s.tls), (hp("example.com", 443), true));
    assert_eq!(err("http:///items").part, "host ``");
    assert_eq!(err("http://a:b/items").part, "host `a:b`");
}

#[test]
fn unknown_or_missing_schemes_list_every_form() {
    let e = err("ftp://x");
    assert_eq!(e.part, "scheme `ftp`");
    assert_eq!(e.expected, forms::ALL);
    let e = err("127.0.0.1:2379/app");
    assert_eq!(e.part, "scheme");
    assert!(e.to_string().contains("etcd://HOST:PORT"));
}

#[test]
fn display_round_trips_through_parse() {
    for s in [
        "memory://demo?objects=5&rate=0&seed=1",
        "etcd://a:1,b:2/app/",
        "kube://apps/v1/deployments?namespace=ns&labelSelector=app%3Dweb",
        "etcd2+http://h:1/v2/keys/dir",
        "consul+http://h:2/v1/kv/p/",
        "https://h/x",
    ] {
        let spec = ok(s);
        assert_eq!(ok(&spec.to_string()), spec, "{s}");
    }
}

#[test]
fn parse_never_panics_on_odd_input() {
    let odd = [
        "",
        "://",
        "kube://",
        "kube://?",
        "etcd://[",
        "etcd://[]:1/x",
        "memory://demo?&&",
        "http://[:::]:1",
        "kube://v1/pods?namespace=%ZZ",
        "etcd://é:1/x",
        "kube://v\u{665}/pods",
        "etcd2+http://h:1",
    ];
    for s in odd {
        let _ = SourceSpec::parse(s);
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn scheme() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "memory://", "etcd://", "kube://", "etcd2+http://", "consul+http://", "http://"])
    }

    fn kube_spec() -> impl Strategy<Value = KubeSpec> {
        (
            prop::option::of("[a-z]{1,8}(\\.[a-z]{1,5})?"),
            "v[1-9](beta[1-3])?",
            "[a-z]{1,12}",
            prop::option::of("[a-z][a-z0-9-]{0,10}[a-z0-9]"),
            prop::option::of("[a-z]{1,5}(=|!=)[a-z0-9&=%+ ]{1,6}"),
        )
            .prop_map(|(group, version, resource, namespace, label_selector)| KubeSpec {
                group,
                version,
                resource,
                namespace,
                label_selector,
                field_selector: None,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parse_never_panics(prefix in scheme(), rest in "[a-z0-9:/?=&,\\[\\]%.+~é -]{0,40}") {
            let input = format!("{prefix}{rest}");
            if let Err(err) = SourceSpec::parse(&input) {
                prop_assert_eq!(&err.input, &input);
                prop_assert!(!err.part.is_empty() && !err.expected.is_empty());
            }
        }

        #[test]
        fn any_unicode_input_is_parsed_or_refused(input in "\\PC{0,60}") {
            let _ = SourceSpec::parse(&input);
        }

        #[test]
        fn kube_specs_round_trip_through_display(spec in kube_spec()) {
            let spec = SourceSpec::Kube(spec);
            prop_assert_eq!(SourceSpec::parse(&spec.to_string()), Ok(spec.clone()));
        }

        #[test]
        fn etcd_specs_round_trip_through_display(
            hosts in prop::collection::vec(("[a-z][a-z0-9.-]{0,10}", 1u16..), 1..4),
            prefix in "/[a-zA-Z0-9/_.-]{0,20}",
        ) {
            let endpoints = hosts.into_iter().map(|(host, port)| HostPort { host, port }).collect();
            let spec = SourceSpec::Etcd(EtcdSpec { endpoints, prefix });
            prop_assert_eq!(SourceSpec::parse(&spec.to_string()), Ok(spec.clone()));
        }
    }
}
