//! The chaos test: one 128 MiB transfer each way through the fault proxy
//! while dozens of random faults hit it — cuts, stalls (half-open
//! connections, found by `--timeout`), client SIGKILLs and one server
//! restart. The result must be the source's SHA-256, the bytes moved must
//! stay within size + (faults + 1) × chunk, and nothing may be left behind.
//!
//! The proxy throttles to 8 MiB/s so that what a SIGKILL can lose (chunks
//! verified in the last commit interval, 100 ms) stays under one chunk.
//! Bounded: at most `FAULTS` faults, every wait has a time-out, and the
//! whole run has a deadline.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::RngExt;
use support::{Proc, Rig, random_file, s, sha256_file, wait_until};

const SIZE: u64 = 128 << 20;
const CHUNK: u64 = 1 << 20;
const RATE: u64 = 8 << 20;
const FAULTS: u32 = 30;
/// Framing and control messages on top of the payload.
const OVERHEAD: u64 = 1 << 20;
const DEADLINE: Duration = Duration::from_secs(240);
const STEP: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
enum Fault {
    Cut,
    Stall,
    KillClient,
    RestartServer,
}

struct Chaos {
    rig: Rig,
    args: Vec<String>,
    upload: bool,
    client: Proc,
    started: Instant,
}

impl Chaos {
    fn moved(&self) -> u64 {
        if self.upload {
            self.rig.proxy.up()
        } else {
            self.rig.proxy.down()
        }
    }

    fn spawn(args: &[String]) -> Proc {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Proc::wsresume(&args)
    }

    fn finished(&mut self) -> bool {
        self.client.try_status().is_some()
    }

    /// Waits until `amount` more bytes moved (or the client finished); the
    /// transfer must make that progress within `STEP`.
    fn progress(&mut self, amount: u64) {
        let target = self.moved() + amount;
        let deadline = Instant::now() + STEP;
        while Instant::now() < deadline && self.moved() < target && !self.finished() {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            self.moved() >= target || self.finished(),
            "no progress for {STEP:?}: {}",
            self.client.stderr_text()
        );
        assert!(
            self.started.elapsed() < DEADLINE,
            "chaos run over its deadline"
        );
    }

    /// Injects `fault`; false when it hit nothing (no connection was up).
    fn inject(&mut self, fault: Fault) -> bool {
        let conns = self.rig.proxy.connections();
        match fault {
            Fault::Cut => self.rig.proxy.cut_now() > 0,
            Fault::Stall => {
                if self.rig.proxy.stall_now() == 0 {
                    return false;
                }
                // Half-open: found by --timeout 1 and reconnected.
                let proxy = &self.rig.proxy;
                let reconnected =
                    wait_until(Duration::from_secs(8), || proxy.connections() > conns);
                assert!(reconnected || self.finished(), "stall not detected");
                true
            }
            Fault::KillClient => {
                self.client.kill();
                self.client = Chaos::spawn(&self.args);
                true
            }
            Fault::RestartServer => {
                self.rig.server.restart();
                self.rig.proxy.set_upstream(self.rig.server.addr());
                true
            }
        }
    }
}

fn random_fault(rng: &mut impl rand::Rng, i: u32) -> Fault {
    if i == FAULTS / 2 {
        return Fault::RestartServer;
    }
    match rng.random_range(0..10) {
        0..5 => Fault::Cut,
        5..7 => Fault::Stall,
        _ => Fault::KillClient,
    }
}

fn chaos(upload: bool) {
    let rig = Rig::new(&[]);
    let (src, dest): (PathBuf, PathBuf) = if upload {
        let src = random_file(rig.local.path(), "chaos.bin", SIZE);
        (src, rig.root.path().join("chaos.bin"))
    } else {
        let src = random_file(rig.root.path(), "chaos.bin", SIZE);
        (src, rig.local.path().join("chaos.bin"))
    };
    let url = rig.proxy.url("chaos.bin");
    let mut args: Vec<String> = if upload {
        vec!["send".into(), s(&src).into(), url]
    } else {
        vec!["get".into(), url, s(&dest).into()]
    };
    for a in [
        "--chunk-size",
        "1M",
        "--retries",
        "1000",
        "--retry-max-delay",
        "0.3",
    ] {
        args.push(a.into());
    }
    args.extend(["--timeout", "1", "-q"].map(String::from));
    rig.proxy.throttle(RATE);
    let client = Chaos::spawn(&args);
    let mut run = Chaos {
        rig,
        args,
        upload,
        client,
        started: Instant::now(),
    };
    let mut rng = rand::rng();
    let mut injected = 0u32;
    for i in 0..FAULTS {
        run.progress(rng.random_range(CHUNK / 2..4 * CHUNK));
        if run.finished() {
            break;
        }
        let fault = random_fault(&mut rng, i);
        if run.inject(fault) {
            injected += 1;
        }
    }
    run.rig.proxy.throttle(0);
    let status = run
        .client
        .wait_timeout(DEADLINE.saturating_sub(run.started.elapsed()))
        .expect("the client did not finish in time");
    assert!(
        status.success(),
        "client failed: {}",
        run.client.stderr_text()
    );
    let moved = run.moved();
    eprintln!(
        "{} through {injected} faults in {:?}: {moved} bytes for {SIZE} ({} extra)",
        if upload { "send" } else { "get" },
        run.started.elapsed(),
        moved - SIZE
    );
    assert!(injected >= 24, "only {injected} faults: not chaos");
    assert_eq!(sha256_file(&dest), sha256_file(&src), "wrong result");
    let bound = SIZE + u64::from(injected + 1) * CHUNK + OVERHEAD;
    assert!(moved <= bound, "moved {moved} > bound {bound}");
    run.rig.check_clean();
}

#[test]
fn chaos_get() {
    chaos(false);
}

#[test]
fn chaos_send() {
    chaos(true);
}
