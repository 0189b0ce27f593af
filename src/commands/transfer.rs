//! `get` and `send`: the arguments made into a job (`jobs`), run, and its
//! reports printed: a `--json` line and/or a summary per file, a failure
//! among several files as it happens, a tree's counts at its end.

use super::output::Output;
use crate::cli::{GetArgs, SendArgs};
use crate::client::get::Dest;
use crate::error::Error;
use crate::jobs::{self, CommandFlags, FileReport, Reporter, Summary};
use crate::progress::Progress;
use crate::report::{human_bytes, json_line, summary};

/// `wsresume get URL [DEST]`.
pub async fn get(args: GetArgs, out: &Output) -> anyhow::Result<()> {
    let flags = CommandFlags {
        wait_lock: args.wait,
        preserve: args.preserve,
    };
    let (opts, url) = jobs::client_job(&args.client, &args.url, flags)?;
    let printer = Printer::new(out, opts.quiet);
    let dest = args.dest.as_deref();
    let to_stdout = dest.is_some_and(|d| d.as_os_str() == "-");
    if args.recursive {
        if to_stdout {
            return Err(Error::Usage("get -r cannot write to standard output".into()).into());
        }
        return jobs::tree::get_tree(&url, dest, args.create_dirs, &opts, &printer).await;
    }
    if url.is_dir() {
        return Err(Error::IsDirectory(format!("{url} is a directory: use -r")).into());
    }
    let dest = match dest {
        Some(_) if to_stdout && out.json() => {
            return Err(Error::Usage(
                "--json cannot be used with DEST '-': standard output carries the file \
                 (give a file DEST for the JSON line, or check the exit code)"
                    .into(),
            )
            .into());
        }
        Some(_) if to_stdout => Dest::Stdout,
        d => Dest::File(jobs::dest::file_target(d, &url, args.create_dirs)?),
    };
    jobs::files::get_file(&url, dest, &opts, &printer).await
}

/// `wsresume send FILE... URL`.
pub async fn send(args: SendArgs, out: &Output) -> anyhow::Result<()> {
    let flags = CommandFlags {
        wait_lock: false,
        preserve: args.preserve,
    };
    let (opts, url) = jobs::client_job(&args.client, &args.url, flags)?;
    let printer = Printer::new(out, opts.quiet);
    jobs::files::send(&args.files, args.recursive, &url, &opts, &printer).await
}

/// Prints a job's reports.
struct Printer<'a> {
    out: &'a Output,
    /// `-q`: no summaries.
    quiet: bool,
}

impl<'a> Printer<'a> {
    fn new(out: &'a Output, quiet: bool) -> Printer<'a> {
        Printer { out, quiet }
    }
}

impl Reporter for Printer<'_> {
    /// The file's JSON line (`--json`), then its summary, or its error when
    /// it is one of several (the only file's error ends the command and is
    /// printed then).
    fn file(&self, progress: &Progress, report: &FileReport<'_>) {
        let line = json_line(
            report.op,
            report.source,
            report.target,
            report.elapsed,
            report.result,
        );
        self.out.json_line(Some(progress), &line);
        match report.result {
            Ok(outcome) if !self.quiet && !self.out.json() => {
                progress.println(&summary(report.target, outcome, report.elapsed));
            }
            Err(e) if report.files > 1 => progress.println(&format!("wsresume: {e:#}")),
            _ => {}
        }
    }

    /// A tree's counts (unless `-q`).
    fn finished(&self, s: &Summary) {
        if !s.tree || self.quiet {
            return;
        }
        let moved = s.files - s.skipped - s.failed;
        eprintln!(
            "wsresume: {} files: {moved} {} ({}), {} skipped (identical), {} failed",
            s.files,
            s.direction.moved(),
            human_bytes(s.moved),
            s.skipped,
            s.failed
        );
    }
}
