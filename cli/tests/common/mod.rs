//! Helpers for tests that run the built `informer` binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A `Command` for the built binary with quiet logs.
pub fn informer(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_informer"));
    cmd.args(args).env("RUST_LOG", "warn").stdin(Stdio::null());
    cmd
}

/// Runs the binary to completion (at most 20 s) and returns its output.
pub fn run(args: &[&str]) -> Output {
    let mut child = informer(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn informer");
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits for the child, killing it (and failing) after `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("informer did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM to the child with the `kill` command.
pub fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
    assert!(status.success(), "kill -TERM failed");
}

/// Reads a running child's stdout lines on a thread.
pub fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (at most `limit`) until `path` exists and holds a complete JSON snapshot.
pub fn wait_for_snapshot(path: &Path, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(value) = serde_json::from_str::<Value>(&text)
        {
            return value;
        }
        assert!(Instant::now() < deadline, "no snapshot at {} within {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads and parses a snapshot file, checking the documented shape and that keys are sorted
/// in the file itself (not only in the parsed map).
pub fn read_snapshot(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read snapshot");
    check_snapshot_text(&text)
}

/// Checks a snapshot's text: one JSON object with `source`, `version`, `items`, keys in order.
pub fn check_snapshot_text(text: &str) -> Value {
    let value: Value = serde_json::from_str(text).expect("snapshot is JSON");
    assert!(value["source"].is_string(), "source: {}", value["source"]);
    assert!(value["version"].is_string(), "version: {}", value["version"]);
    let items = value["items"].as_object().expect("items is an object");
    // serde_json's map is sorted, so check the order of appearance in the text instead.
    let mut positions = Vec::new();
    for key in items.keys() {
        let needle = format!("{}:", serde_json::to_string(key).unwrap());
        positions.push(text.find(&needle).unwrap_or_else(|| panic!("key {key} not in text")));
    }
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "keys are not sorted in the file");
    value
}

/// `GET http://addr/path` over a plain TCP stream; returns (status line, body).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((head.lines().next().unwrap_or_default().to_string(), body.to_string()))
}

/// Polls `http_get` until it answers (at most 10 s).
pub fn http_get_retry(addr: &str, path: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match http_get(addr, path) {
            Ok(answer) => return answer,
            Err(err) => {
                assert!(Instant::now() < deadline, "GET {addr}{path}: {err}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A free port on 127.0.0.1.
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}
