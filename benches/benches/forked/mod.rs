//! What the two-process benches share (`pingpong`, `crossproc`): forking a
//! child that runs a closure and reaping it, and a shared page of atomics that
//! a fork keeps sharing.
//!
//! The child is forked, not exec'd: a bench that forks is single-threaded when
//! it does ([`ensure_single_threaded`]), so the child may run any code; it ends
//! with `libc::_exit` and never runs the parent's destructors. It asks for
//! SIGKILL when the parent dies, and the parent kills it on drop of [`Child`].
//!
//! Each bench target includes this module (`mod forked;`) and uses what it
//! needs; hence the `dead_code` allowance for what some targets leave unused.

#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::{Duration, Instant};

/// The error type of the two-process benches.
pub type BoxError = Box<dyn std::error::Error>;
/// The result type of the two-process benches.
pub type Result<T> = std::result::Result<T, BoxError>;

/// How long either side waits for the other before giving up.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Spins between two looks at the clock and the peer in [`spin_until`].
pub const SPINS_PER_STALL_CHECK: u32 = 1 << 16;

/// Fork is only safe to follow with arbitrary code in a single-threaded process.
pub fn ensure_single_threaded() -> Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads != 1 {
        return Err(format!("{threads} threads before fork; a forked child needs one").into());
    }
    Ok(())
}

/// Calls `attempt` until it gives a value, spinning in between; `stall_check`
/// runs every [`SPINS_PER_STALL_CHECK`] spins with the time waited so far.
#[inline(always)]
pub fn spin_until<T>(
    mut attempt: impl FnMut() -> Result<Option<T>>,
    stall_check: &mut dyn FnMut(Duration) -> Result<()>,
) -> Result<T> {
    let mut spins: u32 = 0;
    let mut since: Option<Instant> = None;
    loop {
        if let Some(value) = attempt()? {
            return Ok(value);
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % SPINS_PER_STALL_CHECK == 0 {
            let since = *since.get_or_insert_with(Instant::now);
            stall_check(since.elapsed())?;
        }
    }
}

/// A forked child, killed and reaped on drop unless already reaped.
pub struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

/// Forks; the child runs `run` and ends with `_exit` (status 0 on success),
/// never returning into the caller.
pub fn fork_child(run: impl FnOnce() -> Result<()>) -> Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    // Buffered output would otherwise be written by both processes.
    std::io::stdout().flush()?;
    std::io::stderr().flush()?;
    // SAFETY: the process is single-threaded (checked at start and nothing since
    // starts a thread), so the child may run any code after the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()).into());
    }
    if pid == 0 {
        // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        // SAFETY: getppid has no preconditions.
        let code = if unsafe { libc::getppid() } != parent {
            3 // the parent died before the prctl
        } else {
            match catch_unwind(AssertUnwindSafe(run)) {
                Ok(Ok(())) => 0,
                Ok(Err(error)) => {
                    eprintln!("forked child: {error}");
                    1
                }
                Err(_) => 2, // the panic hook has printed the message
            }
        };
        // SAFETY: ends the child at once, without running the destructors or
        // atexit handlers it shares with the parent (which own the rings).
        unsafe { libc::_exit(code) }
    }
    Ok(Child { pid, reaped: false })
}

impl Child {
    /// An error if the child has exited (it only does so when done or failed).
    pub fn check_running(&mut self) -> Result<()> {
        let mut status = 0;
        // SAFETY: `pid` is our unreaped child and `status` outlives the call.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if rc == 0 {
            return Ok(());
        }
        self.reaped = true;
        Err(format!("the child ended early ({})", describe_status(status)).into())
    }

    /// `outcome`, but if it is an error and the child has ended, the child's
    /// end instead: the cause, where `outcome` only shows the loss of the peer
    /// (EOF, a broken pipe, `Disconnected`, a stall).
    pub fn blame<T>(&mut self, outcome: Result<T>) -> Result<T> {
        if outcome.is_err() {
            self.check_running()?;
        }
        outcome
    }

    /// Waits for the child to end; an error unless it exited with status 0.
    pub fn wait(mut self) -> Result<()> {
        let mut status = 0;
        // SAFETY: `pid` is our unreaped child and `status` outlives the call.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        self.reaped = true;
        if rc != self.pid {
            return Err(format!("waitpid: {}", std::io::Error::last_os_error()).into());
        }
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            Ok(())
        } else {
            Err(format!("the child failed ({})", describe_status(status)).into())
        }
    }

    /// Checks on the child while waiting for it: an error once it has ended or
    /// once it has kept us waiting longer than [`STALL_TIMEOUT`].
    pub fn stall_check(&mut self, waited: Duration) -> Result<()> {
        self.check_running()?;
        if waited > STALL_TIMEOUT {
            return Err(format!("no word from the child for {waited:?}").into());
        }
        Ok(())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: `pid` is our unreaped child; `status` is a null pointer,
            // which waitpid accepts.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

fn describe_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status:#x}")
    }
}

/// One page of a memfd, mapped shared; a fork keeps sharing it.
pub struct SharedPage {
    base: NonNull<libc::c_void>,
}

/// Bytes in a [`SharedPage`].
pub const PAGE_SIZE: usize = 4096;

impl SharedPage {
    /// A fresh zero-filled page.
    pub fn new() -> Result<SharedPage> {
        // SAFETY: the name is a NUL-terminated string; the flags are valid.
        let fd = unsafe { libc::memfd_create(c"shmlane-forked".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(format!("memfd_create: {}", std::io::Error::last_os_error()).into());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        file.set_len(PAGE_SIZE as u64)?;
        // SAFETY: maps the file's one page; the kernel picks the address. The
        // mapping outlives the descriptor, which is closed when `file` drops.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()).into());
        }
        Ok(SharedPage {
            base: NonNull::new(base).ok_or("mmap returned null")?,
        })
    }

    /// The `u32` at the start of the page (zero at first).
    pub fn u32_word(&self) -> &AtomicU32 {
        // SAFETY: the page is mapped, page-aligned, zero-filled and read-write
        // for as long as `self` lives, and is only accessed atomically.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().cast()) }
    }

    /// The `index`th `u64` of the page (zero at first).
    ///
    /// # Panics
    ///
    /// If the page has no such word.
    pub fn u64_at(&self, index: usize) -> &AtomicU64 {
        assert!(
            index < PAGE_SIZE / 8,
            "a page holds {} u64 words",
            PAGE_SIZE / 8
        );
        // SAFETY: the word lies inside the page, which is mapped, page-aligned
        // (so the word is 8-aligned), zero-filled and read-write for as long as
        // `self` lives; a variant accesses it only atomically, and never also
        // through `u32_word` (which overlaps word 0).
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().cast::<u64>().add(index)) }
    }
}

// SAFETY: the page is only reached through the atomics `u32_word` and
// `u64_at` hand out, which any thread may use at once; the mapping itself is
// owned by the value and unmapped once, on drop.
unsafe impl Sync for SharedPage {}
// SAFETY: as for `Sync`: nothing about the mapping is tied to a thread.
unsafe impl Send for SharedPage {}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no reference into it
        // outlives `self`.
        unsafe { libc::munmap(self.base.as_ptr(), PAGE_SIZE) };
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// A bench's variant, named on its command line (`--only NAME`).
pub trait Named: Copy {
    fn name(self) -> &'static str;
}

/// The command line of a two-process bench.
pub struct Options<V> {
    /// Where to write the results as JSON (`--json FILE`).
    pub json: Option<String>,
    /// Short runs: `--quick`, or any run that is not `cargo bench`'s.
    pub quick: bool,
    /// One variant alone (`--only NAME`).
    pub only: Option<V>,
}

/// Parses `--bench`, `--quick`, `--only NAME` and `--json FILE` (which
/// `json` gives a default for). `cargo bench` passes `--bench`; without it
/// (`cargo test --benches`, or the binary run by hand) the run is a smoke
/// test, as criterion's are.
pub fn parse_options<V: Named>(variants: &[V], json: Option<String>) -> Result<Options<V>> {
    let mut options = Options {
        json,
        quick: false,
        only: None,
    };
    let mut bench = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => bench = true,
            "--quick" => options.quick = true,
            "--only" => {
                let name = args.next().ok_or("--only needs a variant name")?;
                let variant = variants
                    .iter()
                    .copied()
                    .find(|variant| variant.name() == name)
                    .ok_or_else(|| format!("no variant named {name:?}"))?;
                options.only = Some(variant);
            }
            "--json" => options.json = Some(args.next().ok_or("--json needs a file name")?),
            other => {
                return Err(format!(
                    "unknown argument {other:?} (expected --json FILE, --quick or --only VARIANT)"
                )
                .into())
            }
        }
    }
    options.quick |= !bench;
    Ok(options)
}

/// The process's exit for a bench's `run`: its error printed after its name.
pub fn exit(bench: &str, result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{bench}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
