//! Which ring a command is about: a name in `/dev/shm`, or a file path.

use std::fmt;
use std::path::PathBuf;

use shmlane::{Error, OpenOptions, Ring, RingInfo, RingOptions};

use crate::args::RingArg;

/// A ring named on the command line.
#[derive(Debug, Clone)]
pub enum Target {
    /// `/dev/shm/<name>`.
    Name(String),
    /// A file anywhere.
    Path(PathBuf),
}

impl Target {
    /// The ring of a `NAME` or `--path FILE` argument (clap makes sure that
    /// exactly one is given).
    pub fn from_arg(arg: &RingArg) -> Target {
        match (&arg.name, &arg.path) {
            (_, Some(path)) => Target::Path(path.clone()),
            (Some(name), None) => Target::Name(name.clone()),
            (None, None) => unreachable!("clap requires NAME or --path"),
        }
    }

    pub fn create(&self, options: &RingOptions) -> Result<Ring, Error> {
        match self {
            Target::Name(name) => Ring::create(name, options),
            Target::Path(path) => Ring::create(path, options),
        }
    }

    pub fn open(&self, options: &OpenOptions) -> Result<Ring, Error> {
        match self {
            Target::Name(name) => options.open(name),
            Target::Path(path) => options.open(path),
        }
    }

    /// The ring's state, read without joining it.
    pub fn info(&self) -> Result<RingInfo, Error> {
        match self {
            Target::Name(name) => shmlane::info(name),
            Target::Path(path) => shmlane::info(path),
        }
    }

    pub fn remove(&self) -> Result<(), Error> {
        match self {
            Target::Name(name) => shmlane::remove(name),
            Target::Path(path) => shmlane::remove(path),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Name(name) => f.write_str(name),
            Target::Path(path) => write!(f, "{}", path.display()),
        }
    }
}
