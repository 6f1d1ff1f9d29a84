//! Text and string relocation: Homebrew's `@@HOMEBREW_*@@` placeholders in text files, long
//! shebangs, and a pinned bottle's compiled-in prefix inside NUL-terminated strings.

/// The kernel reads at most this many bytes of a `#!` line on Linux.
pub const MAX_SHEBANG: usize = 127;

/// Whether `data` looks like text: no NUL byte in its first 8 KiB (as `file` decides, roughly).
pub fn is_text(data: &[u8]) -> bool {
    !data[..data.len().min(8192)].contains(&0)
}

/// `data` with every `(from, to)` replaced, in order; `None` when none occurs.
pub fn replace_all(data: &[u8], pairs: &[(String, String)]) -> Option<Vec<u8>> {
    let mut current: Option<Vec<u8>> = None;
    for (from, to) in pairs {
        let text = current.as_deref().unwrap_or(data);
        if from.is_empty() || memchr::memmem::find(text, from.as_bytes()).is_none() {
            continue;
        }
        current = Some(replace_bytes(text, from.as_bytes(), to.as_bytes()));
    }
    current
}

fn replace_bytes(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while let Some(at) = memchr::memmem::find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// A `#!` line longer than the kernel reads becomes `#!/usr/bin/env NAME`, as rattler does
/// (`env -S NAME ARGS` with arguments): the interpreter is then found on `PATH` (`.velo/bin`
/// in an activated project).
pub fn fix_long_shebang(data: Vec<u8>) -> Vec<u8> {
    if !data.starts_with(b"#!") {
        return data;
    }
    let end = memchr::memchr(b'\n', &data).unwrap_or(data.len());
    if end <= MAX_SHEBANG {
        return data;
    }
    let line = String::from_utf8_lossy(&data[2..end]).into_owned();
    let line = line.trim();
    let (interpreter, args) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    let name = interpreter.rsplit('/').next().unwrap_or(interpreter);
    // Linux passes everything after the interpreter as one argument: `env -S` splits it.
    let mut shebang = format!("#!/usr/bin/env {name}");
    if !args.trim().is_empty() {
        shebang = format!("#!/usr/bin/env -S {name} {}", args.trim());
    }
    let mut out = shebang.into_bytes();
    out.extend_from_slice(&data[end..]);
    out
}

/// `data` with `old` replaced by `new` inside each NUL-terminated string that holds it, the
/// string padded with NULs to its old length, so no offset in the file moves. `new` must not
/// be longer than `old`. `None` when `old` does not occur.
pub fn replace_in_c_strings(data: &[u8], old: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    assert!(new.len() <= old.len(), "callers check the length");
    let mut out: Option<Vec<u8>> = None;
    let mut from = 0;
    loop {
        let buffer = out.as_deref().unwrap_or(data);
        let Some(found) = memchr::memmem::find(&buffer[from..], old) else {
            break;
        };
        let at = from + found;
        let start = buffer[..at].iter().rposition(|b| *b == 0).map_or(0, |p| p + 1);
        let end = memchr::memchr(0, &buffer[at..]).map_or(buffer.len(), |p| at + p);
        let string = &buffer[start..end];
        let mut replaced = replace_bytes(string, old, new);
        replaced.resize(string.len(), 0);
        let mut next = out.take().unwrap_or_else(|| data.to_vec());
        next[start..end].copy_from_slice(&replaced);
        out = Some(next);
        from = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let pairs = vec![
            ("@@HOMEBREW_CELLAR@@".to_string(), "/p/.velo/Cellar".to_string()),
            ("@@HOMEBREW_PREFIX@@".to_string(), "/p/.velo".to_string()),
        ];
        let out = replace_all(b"a=@@HOMEBREW_PREFIX@@/lib b=@@HOMEBREW_CELLAR@@/x", &pairs).unwrap();
        assert_eq!(out, b"a=/p/.velo/lib b=/p/.velo/Cellar/x");
        assert_eq!(replace_all(b"nothing", &pairs), None);
    }

    #[test]
    fn long_shebangs_use_env() {
        let long = format!("#!/{}/bin/python3 -u\nprint(1)\n", "x".repeat(130));
        assert_eq!(
            fix_long_shebang(long.into_bytes()),
            b"#!/usr/bin/env -S python3 -u\nprint(1)\n"
        );
        let short = b"#!/bin/sh\necho\n".to_vec();
        assert_eq!(fix_long_shebang(short.clone()), short);
    }

    #[test]
    fn c_strings_are_padded() {
        let data = b"\0/home/linuxbrew/.linuxbrew/etc/ssl\0other\0/home/linuxbrew/.linuxbrew\0";
        let out = replace_in_c_strings(data, b"/home/linuxbrew/.linuxbrew", b"/c/b").unwrap();
        assert_eq!(out.len(), data.len());
        let expected = [
            &b"\0/c/b/etc/ssl"[..],
            &[0u8; 22][..],
            b"\0other\0/c/b",
            &[0u8; 22][..],
            b"\0",
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(replace_in_c_strings(b"abc", b"zz", b"z"), None);
    }
}
