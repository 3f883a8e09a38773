//! The CLI's SOURCE argument: `SourceSpec::parse` returns a spec or a typed `SpecError` for any
//! string, never panics; a parsed spec's display form parses again to the same kind.
#![no_main]

use informer_cli::source_spec::SourceSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    match SourceSpec::parse(input) {
        Ok(spec) => {
            let shown = spec.to_string();
            let _ = format!("{spec:?}");
            let again = SourceSpec::parse(&shown)
                .unwrap_or_else(|e| panic!("{input:?} parsed, its form {shown:?} does not: {e}"));
            assert_eq!(again.kind(), spec.kind(), "{input:?} -> {shown:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
