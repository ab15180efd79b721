//! The exceptions of the module: `shmlane.Error` and one subclass per
//! [`ErrorKind`], with the Rust crate's one-line messages.
//!
//! The classes are made once, when the module is imported, with Python's
//! `type()`, so that each can also derive from the built-in exception a
//! Python caller would catch (`FileNotFoundError` for a missing ring,
//! `ValueError` for a message too large, ...). Where the Rust message names a
//! remedy in the Rust API, the Python words for it are used instead.

use pyo3::exceptions::{
    PyBufferError, PyException, PyFileExistsError, PyFileNotFoundError, PyOSError,
    PyPermissionError, PyTimeoutError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use shmlane::{ErrorKind, Remedy};

/// The built-in exception a class derives from besides `shmlane.Error`.
#[derive(Clone, Copy)]
enum Builtin {
    None,
    FileNotFound,
    FileExists,
    Value,
    Timeout,
    Permission,
    OsError,
    Buffer,
}

impl Builtin {
    fn class(self, py: Python<'_>) -> Option<Bound<'_, PyType>> {
        Some(match self {
            Builtin::None => return None,
            Builtin::FileNotFound => py.get_type::<PyFileNotFoundError>(),
            Builtin::FileExists => py.get_type::<PyFileExistsError>(),
            Builtin::Value => py.get_type::<PyValueError>(),
            Builtin::Timeout => py.get_type::<PyTimeoutError>(),
            Builtin::Permission => py.get_type::<PyPermissionError>(),
            Builtin::OsError => py.get_type::<PyOSError>(),
            Builtin::Buffer => py.get_type::<PyBufferError>(),
        })
    }
}

/// One exception class: the kind it stands for (`None`: not a Rust failure),
/// its name, its built-in base and its docstring.
type ClassSpec = (Option<ErrorKind>, &'static str, Builtin, &'static str);

/// Every subclass of `shmlane.Error`, in the order of [`ErrorKind`].
const CLASSES: &[ClassSpec] = &[
    (Some(ErrorKind::NotFound), "NotFoundError", Builtin::FileNotFound, "No ring file at this name or path."),
    (Some(ErrorKind::AlreadyExists), "AlreadyExistsError", Builtin::FileExists, "A file already exists where a ring was to be created."),
    (Some(ErrorKind::BadName), "BadNameError", Builtin::Value, "A ring name that is not 1-200 characters of [A-Za-z0-9._-] without a leading dot."),
    (Some(ErrorKind::Symlink), "SymlinkError", Builtin::None, "The path is a symbolic link; rings are never opened through links."),
    (Some(ErrorKind::NotARing), "NotARingError", Builtin::None, "The file is not a shmlane ring."),
    (Some(ErrorKind::UnsupportedVersion), "UnsupportedVersionError", Builtin::None, "The ring's major layout version is not one this build reads."),
    (Some(ErrorKind::WrongKind), "WrongKindError", Builtin::None, "The ring is of another kind than the one asked for."),
    (Some(ErrorKind::BadGeometry), "BadGeometryError", Builtin::Value, "Capacity, slot size or participant count out of range."),
    (Some(ErrorKind::FileTooSmall), "FileTooSmallError", Builtin::None, "The file is shorter than the ring its header describes."),
    (Some(ErrorKind::NotReady), "NotReadyError", Builtin::Timeout, "The creator did not finish writing the header within the open's ready_timeout."),
    (Some(ErrorKind::Permission), "PermissionDeniedError", Builtin::Permission, "The file's owner or mode does not allow this use, or the OS refused access."),
    (Some(ErrorKind::RoleTaken), "RoleTakenError", Builtin::None, "A live handle already plays this role on a ring that has room for one."),
    (Some(ErrorKind::TooManyParticipants), "TooManyParticipantsError", Builtin::None, "Every participant record of the ring is held by a live handle."),
    (Some(ErrorKind::MessageTooLarge), "MessageTooLargeError", Builtin::Value, "A message longer than the ring's max_payload."),
    (Some(ErrorKind::WrongMessageSize), "WrongMessageSizeError", Builtin::Value, "A message whose length differs from the size of a fixed-size ring's messages."),
    (Some(ErrorKind::BufferTooSmall), "BufferTooSmallError", Builtin::Value, "A buffer too small for the next message; the message is not consumed."),
    (Some(ErrorKind::Disconnected), "DisconnectedError", Builtin::None, "The other side has closed or died, and (for consumers) the ring is drained."),
    (Some(ErrorKind::Truncated), "TruncatedError", Builtin::None, "The ring's file was truncated while the ring was open; the ring is lost."),
    (Some(ErrorKind::NotSealed), "NotSealedError", Builtin::None, "The ring's file can still shrink, and a sealed one was required."),
    (Some(ErrorKind::Corrupt), "CorruptError", Builtin::None, "Shared memory holds values that break the ring's invariants."),
    (Some(ErrorKind::Io), "IoError", Builtin::OsError, "An operating-system call failed in a way no other kind covers."),
    (None, "ViewsAliveError", Builtin::Buffer, "A message or slot cannot be released or committed while buffer views of it (memoryview, numpy arrays) are alive."),
];

/// The classes made at import: `shmlane.Error`, then those of [`CLASSES`].
struct Classes {
    error: Py<PyType>,
    subclasses: Vec<Py<PyType>>,
}

static MADE: PyOnceLock<Classes> = PyOnceLock::new();

/// Makes the exception classes and adds them to `module`.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let made = MADE.get_or_try_init(py, || make_classes(py))?;
    module.add("Error", made.error.bind(py))?;
    for ((_, name, _, _), class) in CLASSES.iter().zip(&made.subclasses) {
        module.add(*name, class.bind(py))?;
    }
    Ok(())
}

fn make_classes(py: Python<'_>) -> PyResult<Classes> {
    let error = new_class(
        py,
        "Error",
        PyTuple::new(py, [py.get_type::<PyException>()])?,
        "A failure of shmlane. `kind` names it as the Rust crate's ErrorKind does \
         (\"NotFound\", ...); `path` is the file it concerns, or None.",
    )?;
    let subclasses = CLASSES
        .iter()
        .map(|&(_, name, builtin, doc)| {
            let mut bases = vec![error.clone()];
            bases.extend(builtin.class(py));
            new_class(py, name, PyTuple::new(py, bases)?, doc).map(Bound::unbind)
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Classes {
        error: error.unbind(),
        subclasses,
    })
}

fn new_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: Bound<'py, PyTuple>,
    doc: &str,
) -> PyResult<Bound<'py, PyType>> {
    let namespace = PyDict::new(py);
    namespace.set_item("__module__", "shmlane")?;
    namespace.set_item("__doc__", doc)?;
    namespace.set_item("kind", py.None())?;
    namespace.set_item("path", py.None())?;
    Ok(py
        .get_type::<PyType>()
        .call1((name, bases, namespace))?
        .cast_into::<PyType>()?)
}

/// The class for `kind`, or `shmlane.Error` for a kind this build does not name.
fn class_of(py: Python<'_>, kind: Option<ErrorKind>) -> PyResult<&Bound<'_, PyType>> {
    let made = MADE.get_or_try_init(py, || make_classes(py))?;
    let class = CLASSES
        .iter()
        .zip(&made.subclasses)
        .find(|((of, ..), _)| *of == kind)
        .map_or(&made.error, |(_, class)| class);
    Ok(class.bind(py))
}

/// The remedy in this binding's API, as the message's last clause.
fn python_hint(remedy: Remedy) -> Option<&'static str> {
    Some(match remedy {
        Remedy::AllowOtherOwner => {
            "to accept that, open it with shmlane.open(..., allow_other_owner=True)"
        }
        Remedy::AllowSharedMode => {
            "to accept that, open it with shmlane.open(..., allow_shared_mode=True)"
        }
        Remedy::UsePath => "to give a path, pass a pathlib.Path",
        _ => return None,
    })
}

/// `error` as the Python exception of its kind, with the same message.
pub(crate) fn to_py(py: Python<'_>, error: shmlane::Error) -> PyErr {
    let mut message = error.message().to_string();
    if let Some(hint) = error.remedy().and_then(python_hint) {
        message.push_str("; ");
        message.push_str(hint);
    }
    let made = class_of(py, Some(error.kind())).and_then(|class| {
        let instance = class.call1((message,))?;
        instance.setattr("kind", format!("{:?}", error.kind()))?;
        if let Some(path) = error.path() {
            instance.setattr("path", path.to_string_lossy())?;
        }
        Ok(PyErr::from_value(instance))
    });
    made.unwrap_or_else(|failure| failure)
}

/// Whether `error` is a `shmlane.DisconnectedError`.
pub(crate) fn is_disconnected(py: Python<'_>, error: &PyErr) -> bool {
    class_of(py, Some(ErrorKind::Disconnected)).is_ok_and(|class| error.is_instance(py, class))
}

/// A `shmlane.ViewsAliveError`: `what` cannot be released while `views`
/// (their description) are alive.
pub(crate) fn views_alive(py: Python<'_>, what: &str, views: &str) -> PyErr {
    let message = format!(
        "cannot release the {what} while buffer views of it are alive ({views}): \
         release the memoryviews, or delete them and the numpy arrays made over it, first"
    );
    match class_of(py, None).and_then(|class| class.call1((message,))) {
        Ok(instance) => PyErr::from_value(instance),
        Err(failure) => failure,
    }
}
