//! [`StorePath`]: a validated `filesystem / workspace folder / file` address.

use std::fmt;

/// Prefix of the names a store uses for uploads in progress; a file name may not start with it.
pub const PARTIAL_PREFIX: &str = ".partial-";

/// Longest name, in bytes, of a workspace folder or a file (the common limit of ADLS path segments and local disks).
pub const MAX_NAME_BYTES: usize = 255;

/// The address of a workspace folder or of a file in it: `filesystem / workspace / file`.
///
/// The layout is the one Power BI uses for `.abf` backups in ADLS Gen2: one folder per workspace, named after the
/// workspace, inside one filesystem (container). Every part is checked when the path is built, so a `StorePath` is
/// always valid for every backend; the error names the part and says why.
///
/// # Spec
///
/// ```
/// use adls_store::StorePath;
///
/// let p = StorePath::file("power-bi-backup", "Sales Workspace", "Sales Model (2024) ü.abf").unwrap();
/// assert_eq!(p.filesystem(), "power-bi-backup");
/// assert_eq!(p.workspace(), "Sales Workspace");
/// assert_eq!(p.file_name(), Some("Sales Model (2024) ü.abf"));
/// assert_eq!(p.relative(), "Sales Workspace/Sales Model (2024) ü.abf");
/// assert_eq!(p.to_string(), "power-bi-backup/Sales Workspace/Sales Model (2024) ü.abf");
///
/// // Awkward but valid names: spaces, `+`, `#`, `?`, `%`, non-ASCII, a leading dot.
/// assert!(StorePath::file("power-bi-backup", "ws", "q#1?x=2 %41+.abf").is_ok());
/// assert!(StorePath::file("power-bi-backup", ".hidden ws", "日本語.abf").is_ok());
///
/// // A folder, and a file in it.
/// let ws = StorePath::folder("power-bi-backup", "Finance").unwrap();
/// assert!(ws.is_folder());
/// assert_eq!(ws.join("a.abf").unwrap().to_string(), "power-bi-backup/Finance/a.abf");
///
/// // Refused, with a message that says which name and why.
/// let err = StorePath::folder("power-bi-backup", "..").unwrap_err();
/// assert_eq!(err.to_string(), "invalid workspace name '..': '.' and '..' are not names");
/// let err = StorePath::folder("power-bi-backup", "Sales/EU").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid workspace name 'Sales/EU': it holds '/' or '\\', so Power BI's folder for it cannot be known"
/// );
/// let err = StorePath::folder("power-bi-backup", r"Sales\EU").unwrap_err();
/// assert!(err.to_string().starts_with(r"invalid workspace name 'Sales\EU'"));
/// let err = StorePath::file("power-bi-backup", "ws", "").unwrap_err();
/// assert_eq!(err.to_string(), "invalid file name '': a name may not be empty");
/// let err = StorePath::file("power-bi-backup", "ws", "a\0b").unwrap_err();
/// assert_eq!(err.to_string(), "invalid file name 'a\\0b': it holds NUL or a control character");
/// let err = StorePath::file("power-bi-backup", "ws", "tab\there").unwrap_err();
/// assert_eq!(err.to_string(), "invalid file name 'tab\\there': it holds NUL or a control character");
/// let err = StorePath::file("power-bi-backup", "ws", "sub/a.abf").unwrap_err();
/// assert_eq!(err.to_string(), "invalid file name 'sub/a.abf': a file name may not hold '/' or '\\'");
/// let err = StorePath::file("power-bi-backup", "ws", ".").unwrap_err();
/// assert_eq!(err.to_string(), "invalid file name '.': '.' and '..' are not names");
/// let err = StorePath::file("power-bi-backup", "ws", ".partial-0001").unwrap_err();
/// assert_eq!(err.to_string(), "invalid file name '.partial-0001': names starting with '.partial-' are reserved for uploads in progress");
/// assert!(StorePath::file("power-bi-backup", "ws", &"x".repeat(256)).is_err());
///
/// // Filesystem names follow the Azure container rules: 3 to 63 of a-z, 0-9 and single '-'.
/// let err = StorePath::folder("Power_BI", "ws").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid filesystem name 'Power_BI': use 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
/// );
/// assert!(StorePath::folder("ab", "ws").is_err());
/// assert!(StorePath::folder("a--b", "ws").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath {
    filesystem: String,
    workspace: String,
    file: Option<String>,
}

impl StorePath {
    /// The path of `file` in the folder of `workspace` in `filesystem`.
    pub fn file(filesystem: &str, workspace: &str, file: &str) -> Result<Self, PathError> {
        validate_filesystem(filesystem)?;
        validate_name(NameKind::Workspace, workspace)?;
        validate_name(NameKind::File, file)?;
        Ok(Self {
            filesystem: filesystem.to_owned(),
            workspace: workspace.to_owned(),
            file: Some(file.to_owned()),
        })
    }

    /// The path of the folder of `workspace` in `filesystem`.
    pub fn folder(filesystem: &str, workspace: &str) -> Result<Self, PathError> {
        validate_filesystem(filesystem)?;
        validate_name(NameKind::Workspace, workspace)?;
        Ok(Self { filesystem: filesystem.to_owned(), workspace: workspace.to_owned(), file: None })
    }

    /// The file `name` in this path's workspace folder (replacing the file name if this is a file path).
    pub fn join(&self, name: &str) -> Result<Self, PathError> {
        validate_name(NameKind::File, name)?;
        Ok(Self {
            filesystem: self.filesystem.clone(),
            workspace: self.workspace.clone(),
            file: Some(name.to_owned()),
        })
    }

    /// The workspace folder holding this path (itself if it is a folder).
    pub fn folder_path(&self) -> Self {
        Self { filesystem: self.filesystem.clone(), workspace: self.workspace.clone(), file: None }
    }

    /// The filesystem (container).
    pub fn filesystem(&self) -> &str {
        &self.filesystem
    }

    /// The workspace folder name.
    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    /// The file name, or `None` for a folder.
    pub fn file_name(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// True when this is a workspace folder rather than a file.
    pub fn is_folder(&self) -> bool {
        self.file.is_none()
    }

    /// The path inside the filesystem, `workspace` or `workspace/file`, not encoded.
    pub fn relative(&self) -> String {
        match &self.file {
            Some(f) => format!("{}/{}", self.workspace, f),
            None => self.workspace.clone(),
        }
    }

    /// A sibling upload-in-progress name in the same folder (reserved prefix [`PARTIAL_PREFIX`]).
    pub(crate) fn partial_sibling(&self) -> Self {
        let name = format!("{PARTIAL_PREFIX}{}", uuid::Uuid::new_v4().simple());
        Self {
            filesystem: self.filesystem.clone(),
            workspace: self.workspace.clone(),
            file: Some(name),
        }
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.filesystem, self.workspace)?;
        if let Some(file) = &self.file {
            write!(f, "/{file}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({:?})", self.to_string())
    }
}

/// Which part of a [`StorePath`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// The filesystem (container).
    Filesystem,
    /// The workspace folder.
    Workspace,
    /// The file.
    File,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Filesystem => "filesystem",
            NameKind::Workspace => "workspace",
            NameKind::File => "file",
        })
    }
}

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathReason {
    /// The name is empty.
    Empty,
    /// The name is `.` or `..`.
    DotSegment,
    /// The name holds NUL or another control character.
    ControlCharacter,
    /// A workspace name holds `/` or `\`.
    WorkspaceSeparator,
    /// A file name holds `/` or `\`.
    FileSeparator,
    /// The name is longer than [`MAX_NAME_BYTES`].
    TooLong,
    /// The file name starts with [`PARTIAL_PREFIX`].
    Reserved,
    /// The filesystem name breaks the container naming rules.
    FilesystemRules,
}

impl fmt::Display for PathReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathReason::Empty => "a name may not be empty",
            PathReason::DotSegment => "'.' and '..' are not names",
            PathReason::ControlCharacter => "it holds NUL or a control character",
            PathReason::WorkspaceSeparator => "it holds '/' or '\\', so Power BI's folder for it cannot be known",
            PathReason::FileSeparator => "a file name may not hold '/' or '\\'",
            PathReason::TooLong => "it is longer than 255 bytes",
            PathReason::Reserved => "names starting with '.partial-' are reserved for uploads in progress",
            PathReason::FilesystemRules => {
                "use 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
            }
        })
    }
}

/// A name as a message shows it: control characters escaped, so that it stays on one line; quotes as they are.
fn shown(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() })
        .collect()
}

/// A refused name: which part, the name itself (control characters escaped for display) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name '{}': {reason}", shown(name))]
pub struct PathError {
    /// Which part was refused.
    pub kind: NameKind,
    /// The refused name.
    pub name: String,
    /// Why.
    pub reason: PathReason,
}

/// Checks a filesystem (container) name: 3 to 63 characters of `a-z`, `0-9` and `-`, starting and ending with a letter
/// or digit, no `--`.
pub fn validate_filesystem(name: &str) -> Result<(), PathError> {
    let ok = (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(PathError {
            kind: NameKind::Filesystem,
            name: name.to_owned(),
            reason: PathReason::FilesystemRules,
        })
    }
}

fn validate_name(kind: NameKind, name: &str) -> Result<(), PathError> {
    let fail = |reason| Err(PathError { kind, name: name.to_owned(), reason });
    if name.is_empty() {
        return fail(PathReason::Empty);
    }
    if name == "." || name == ".." {
        return fail(PathReason::DotSegment);
    }
    if name.chars().any(char::is_control) {
        return fail(PathReason::ControlCharacter);
    }
    if name.contains(['/', '\\']) {
        return fail(if kind == NameKind::Workspace {
            PathReason::WorkspaceSeparator
        } else {
            PathReason::FileSeparator
        });
    }
    if name.len() > MAX_NAME_BYTES {
        return fail(PathReason::TooLong);
    }
    if kind == NameKind::File && name.starts_with(PARTIAL_PREFIX) {
        return fail(PathReason::Reserved);
    }
    Ok(())
}
