//! Retrying: [`run`] drives every job of the client (get, send, list) one
//! attempt after another, and the reconnect policy decides which failures
//! are retried, how long to wait, and when to give up (`--retries`
//! consecutive attempts without progress).
//!
//! Until a first connection of the run succeeded, a mistake is more likely
//! than an outage: a host name that does not resolve fails at once, and a
//! refused connection is retried only a few times within seconds, counted
//! over the whole run (unless `--retry-connrefused`). After that, every
//! transient failure gets the patient backoff.

use std::time::Duration;

use tracing::Instrument;

use super::{ClientOptions, Contact};
use crate::backoff::{Backoff, RetryBudget};
use crate::error::{Error, Result};
use crate::progress::FileProgress;

/// First reconnect delay before jitter.
const BASE_DELAY: Duration = Duration::from_millis(250);

/// Delays before the retries of a refused first contact (3.5 s in all).
const FIRST_CONTACT_DELAYS: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// The delay before quick retry number `retry` (0-based) of a refused first
/// contact, capped at `max_delay`; None when they are used up.
fn first_contact_delay(retry: usize, max_delay: Duration) -> Option<Duration> {
    FIRST_CONTACT_DELAYS.get(retry).map(|d| (*d).min(max_delay))
}

/// A job made of attempts, each over one connection.
pub trait Attempts {
    /// What a successful attempt yields.
    type Output;

    /// One attempt.
    async fn attempt(&mut self) -> Result<Self::Output>;

    /// A count that grows with the progress the job keeps across attempts
    /// (verified or acknowledged bytes): an attempt that raised it made
    /// progress, which renews the retry budget.
    fn progress_mark(&self) -> u64 {
        0
    }

    /// After a failed attempt: what now. By default, retry per the policy.
    async fn after_failure(&mut self, error: Error) -> Recovery<Self::Output> {
        Recovery::Retry(error)
    }
}

/// What a job does after a failed attempt.
#[derive(Debug)]
pub enum Recovery<T> {
    /// Back off and try again, unless the policy says this error is final.
    Retry(Error),
    /// Try again at once, costing no retry: the job changed its request.
    Again,
    /// The job is over after all, with this result.
    Finished(Result<T>),
}

/// How a job ended, and after how many attempts.
#[derive(Debug)]
pub struct Ran<T> {
    /// The job's result.
    pub result: Result<T>,
    /// Attempts started.
    pub attempts: u32,
}

/// Run `job` until an attempt succeeds, the job finishes after a failure,
/// or the policy gives up; reconnects are reported to `progress`.
pub async fn run<J: Attempts>(
    opts: &ClientOptions,
    progress: &FileProgress,
    job: &mut J,
) -> Ran<J::Output> {
    let mut retrier = Retrier::new(opts, progress.clone());
    let result = loop {
        let before = job.progress_mark();
        let span = tracing::info_span!("conn", n = retrier.attempts());
        let error = match job.attempt().instrument(span).await {
            Ok(output) => break Ok(output),
            Err(error) => error,
        };
        match job.after_failure(error).await {
            Recovery::Retry(error) => {
                let progressed = job.progress_mark() > before;
                if let Err(error) = retrier.failed(error, progressed).await {
                    break Err(error);
                }
            }
            Recovery::Again => {}
            Recovery::Finished(result) => break result,
        }
    };
    Ran {
        result,
        attempts: retrier.attempts(),
    }
}

/// Tracks attempts of one job.
struct Retrier {
    backoff: Backoff,
    budget: RetryBudget,
    progress: FileProgress,
    max_delay: Duration,
    /// Whether any connection of this run succeeded.
    contact: Contact,
    /// `--retry-connrefused`.
    patient_when_refused: bool,
}

impl Retrier {
    /// Allow `opts.retries` attempts without progress, waiting at most
    /// `opts.retry_max_delay`. Reconnects are reported to `progress`.
    fn new(opts: &ClientOptions, progress: FileProgress) -> Retrier {
        let max_delay = opts.retry_max_delay;
        Retrier {
            backoff: Backoff::new(BASE_DELAY.min(max_delay), max_delay),
            budget: RetryBudget::new(opts.retries),
            progress,
            max_delay,
            contact: opts.contact.clone(),
            patient_when_refused: opts.retry_connrefused,
        }
    }

    /// Attempts started so far.
    fn attempts(&self) -> u32 {
        self.budget.attempts()
    }

    /// An attempt failed: return the error if it is final, else wait and
    /// return Ok so the caller tries again.
    async fn failed(&mut self, error: Error, made_progress: bool) -> Result<()> {
        if !error.is_transient() {
            return Err(error);
        }
        if made_progress {
            self.backoff.reset();
        }
        let first_contact = !self.contact.was_made();
        let quick_delay = match &error {
            Error::UnknownHost(_) if first_contact => return Err(error),
            Error::ConnectionRefused(_) if first_contact && !self.patient_when_refused => {
                let retry = self.contact.take_refused_retry();
                match first_contact_delay(retry, self.max_delay) {
                    Some(delay) => Some(delay),
                    None => return Err(self.refused_for_good(error)),
                }
            }
            _ => None,
        };
        if !self.budget.allow_retry(made_progress) {
            return Err(Error::RetriesExhausted {
                attempts: self.attempts(),
                last: Box::new(error),
            });
        }
        let delay = quick_delay.unwrap_or_else(|| self.backoff.next_delay());
        tracing::info!(
            attempt = self.attempts(),
            delay_s = delay.as_secs_f64(),
            progressed = made_progress,
            "attempt failed: {error}; reconnecting"
        );
        self.progress.reconnecting(&error.to_string(), delay);
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// The quick retries of a refused first contact are used up: the final
    /// error, with a hint at `--retry-connrefused`.
    fn refused_for_good(&self, error: Error) -> Error {
        let hint = format!(
            "{error} (to wait for a server that is still starting, use --retry-connrefused)"
        );
        Error::RetriesExhausted {
            attempts: self.attempts(),
            last: Box::new(Error::ConnectionRefused(hint)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn refused_first_contact_gets_three_quick_retries() {
        let max = Duration::from_secs(30);
        let delays: Vec<_> = (0..5).map(|n| first_contact_delay(n, max)).collect();
        assert_eq!(
            delays,
            [Some(MS * 500), Some(MS * 1000), Some(MS * 2000), None, None]
        );
        let total: Duration = delays.iter().flatten().sum();
        assert!(total < Duration::from_secs(5), "{total:?}");
        let capped: Vec<_> = (0..4).map(|n| first_contact_delay(n, MS * 700)).collect();
        assert_eq!(
            capped,
            [Some(MS * 500), Some(MS * 700), Some(MS * 700), None]
        );
        assert_eq!(first_contact_delay(0, Duration::ZERO), Some(Duration::ZERO));
    }

    fn options(retries: u32, retry_connrefused: bool) -> ClientOptions {
        ClientOptions {
            token: None,
            retries,
            parallel: 1,
            retry_max_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            chunk_size: 1 << 20,
            quiet: true,
            tls: None,
            progress: crate::progress::ProgressMode::None,
            limit_rate: None,
            wait_lock: false,
            preserve: false,
            compress: crate::protocol::CompressMode::Off,
            retry_connrefused,
            contact: Contact::default(),
            route: Default::default(),
        }
    }

    /// What [`Retrier::failed`] answered: retried, or the final error's text.
    fn outcome(result: Result<()>) -> String {
        match result {
            Ok(()) => "retry".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn first_contact_policy() {
        let unknown = || Error::UnknownHost("unknown".into());
        let refused = || Error::ConnectionRefused("refused".into());
        let cut = || Error::Network("cut".into());
        let hint = "giving up after 4 attempts: refused (to wait for a server that is still \
                    starting, use --retry-connrefused)";
        type Case = (bool, u32, bool, fn() -> Error, usize, &'static str);
        // (contact made, --retries, --retry-connrefused, error, failures, last answer)
        let cases: Vec<Case> = vec![
            (false, 10, false, unknown, 1, "unknown"),
            (true, 10, false, unknown, 5, "retry"),
            (false, 10, false, refused, 3, "retry"),
            (false, 10, false, refused, 4, hint),
            (
                false,
                1,
                false,
                refused,
                2,
                "giving up after 2 attempts: refused",
            ),
            (false, 10, true, refused, 8, "retry"),
            (true, 10, false, refused, 8, "retry"),
            (false, 10, false, cut, 8, "retry"),
        ];
        for (made, retries, patient, error, failures, want) in cases {
            let opts = options(retries, patient);
            if made {
                opts.contact.made();
            }
            let mut retrier = Retrier::new(&opts, FileProgress::hidden());
            let start = tokio::time::Instant::now();
            let mut last = String::new();
            for _ in 0..failures {
                last = outcome(retrier.failed(error(), false).await);
            }
            let case = format!("made {made}, retries {retries}, patient {patient}, {failures}");
            assert_eq!(last, want, "{case}");
            if !made && !patient && matches!(error(), Error::ConnectionRefused(_)) {
                assert!(
                    start.elapsed() <= MS * 3500,
                    "{case}: {:?}",
                    start.elapsed()
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn quick_retries_are_counted_over_the_run() {
        let opts = options(10, false);
        let refused = || Error::ConnectionRefused("refused".into());
        let mut first = Retrier::new(&opts, FileProgress::hidden());
        for _ in 0..3 {
            first.failed(refused(), false).await.unwrap();
        }
        let mut second = Retrier::new(&opts.clone(), FileProgress::hidden());
        assert!(second.failed(refused(), false).await.is_err());
        let mut after_contact = Retrier::new(&opts, FileProgress::hidden());
        opts.contact.made();
        assert!(after_contact.failed(refused(), false).await.is_ok());
    }

    /// One scripted attempt of [`Scripted`].
    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// Succeeds.
        Ok,
        /// The connection is cut.
        Cut,
        /// The connection is cut after one more unit of progress.
        CutAfterProgress,
        /// The connection is cut, but the job turns out to be done.
        CutButDone,
        /// Refused: the job asks for something else and tries again.
        Moved,
        /// A final error.
        Usage,
    }

    /// A job that plays a script of attempts.
    struct Scripted {
        steps: std::collections::VecDeque<Step>,
        current: Step,
        mark: u64,
    }

    impl Attempts for Scripted {
        type Output = &'static str;

        async fn attempt(&mut self) -> Result<&'static str> {
            self.current = self.steps.pop_front().expect("the script ran out");
            match self.current {
                Step::Ok => Ok("done"),
                Step::Cut | Step::CutButDone => Err(Error::Network("cut".into())),
                Step::CutAfterProgress => {
                    self.mark += 1;
                    Err(Error::Network("cut".into()))
                }
                Step::Moved => Err(Error::IsDirectory("a directory".into())),
                Step::Usage => Err(Error::Usage("usage".into())),
            }
        }

        fn progress_mark(&self) -> u64 {
            self.mark
        }

        async fn after_failure(&mut self, error: Error) -> Recovery<&'static str> {
            match self.current {
                Step::Moved => Recovery::Again,
                Step::CutButDone => Recovery::Finished(Ok("finished")),
                _ => Recovery::Retry(error),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_runner_plays_every_recovery() {
        use Step::*;
        let exhausted = "giving up after 2 attempts: cut";
        // (--retries, script, result, attempts, waited at all)
        let cases: Vec<(u32, Vec<Step>, &str, u32, bool)> = vec![
            (10, vec![Ok], "done", 1, false),
            (10, vec![Cut, Cut, Ok], "done", 3, true),
            (1, vec![Cut, Cut], exhausted, 2, true),
            (
                1,
                vec![CutAfterProgress; 4].into_iter().chain([Ok]).collect(),
                "done",
                5,
                true,
            ),
            (1, vec![CutAfterProgress, Cut], exhausted, 2, true),
            (10, vec![Usage], "usage", 1, false),
            (0, vec![Moved, Ok], "done", 1, false),
            (0, vec![Moved, Moved, Usage], "usage", 1, false),
            (10, vec![Cut, CutButDone], "finished", 2, true),
        ];
        for (retries, script, want, attempts, waits) in cases {
            let opts = options(retries, false);
            opts.contact.made();
            let case = format!("retries {retries}, {script:?}");
            let mut job = Scripted {
                steps: script.into(),
                current: Ok,
                mark: 0,
            };
            let start = tokio::time::Instant::now();
            let ran = run(&opts, &FileProgress::hidden(), &mut job).await;
            let result = match ran.result {
                Result::Ok(text) => text.to_string(),
                Err(e) => e.to_string(),
            };
            assert_eq!(result, want, "{case}");
            assert_eq!(ran.attempts, attempts, "{case}");
            assert!(job.steps.is_empty(), "{case}: steps left");
            // Backoff draws from [0, ceiling], so a wait may be 0; it never
            // exceeds the cap per retry.
            let waited = start.elapsed();
            if !waits {
                assert_eq!(waited, Duration::ZERO, "{case}");
            }
            assert!(
                waited <= opts.retry_max_delay * attempts,
                "{case}: {waited:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_runner_keeps_the_first_contact_rules() {
        let opts = options(10, false);
        struct Refused(u32);
        impl Attempts for Refused {
            type Output = ();
            async fn attempt(&mut self) -> Result<()> {
                self.0 += 1;
                Err(Error::ConnectionRefused("refused".into()))
            }
        }
        let start = tokio::time::Instant::now();
        let mut refused = Refused(0);
        let ran = run(&opts, &FileProgress::hidden(), &mut refused).await;
        assert_eq!(refused.0, 4);
        assert_eq!(ran.attempts, 4);
        let err = ran.result.expect_err("refused for good");
        assert!(err.to_string().contains("--retry-connrefused"), "{err}");
        assert_eq!(start.elapsed(), MS * 3500);
    }
}
