//! Reading Rust source roughly, for the module graph: blank comments and literals, drop
//! `#[cfg(test)]` items, find `use` trees and `crate::` / `super::` / `self::` paths, and resolve
//! them against the module they are written in.

/// A path found in code: its segments as written (`crate`, `x`, `Y`), the name a `use` binds
/// (the last segment, or its alias), and where it starts in the text.
#[derive(Debug)]
pub struct Reference {
    pub path: Vec<String>,
    pub binds: String,
    pub position: usize,
    /// Part of a `use` declaration (not a path in code).
    pub from_use: bool,
}

/// The source with comments and string, byte-string and char literals blanked out. Newlines are
/// kept, so line numbers stay right.
pub fn strip_comments_and_literals(source: &str) -> String {
    let s: Vec<char> = source.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match comment_or_literal_end(&s, i) {
            Some(end) => {
                out.extend(
                    s[i..end]
                        .iter()
                        .map(|&c| if c == '\n' { '\n' } else { ' ' }),
                );
                i = end;
            }
            None => {
                out.push(s[i]);
                i += 1;
            }
        }
    }
    out.into_iter().collect()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// If a comment or a literal starts at `i`, the index just after it.
fn comment_or_literal_end(s: &[char], i: usize) -> Option<usize> {
    let next = s.get(i + 1).copied();
    let after_ident = i > 0 && is_ident_char(s[i - 1]);
    match s[i] {
        '/' if next == Some('/') => Some(position_of(s, i, '\n').unwrap_or(s.len())),
        '/' if next == Some('*') => Some(block_comment_end(s, i)),
        '"' => Some(string_end(s, i + 1)),
        '\'' => char_literal_end(s, i),
        'r' | 'b' | 'c' if !after_ident => prefixed_literal_end(s, i),
        _ => None,
    }
}

fn position_of(s: &[char], from: usize, c: char) -> Option<usize> {
    s.iter().skip(from).position(|&x| x == c).map(|p| p + from)
}

/// Block comments nest.
fn block_comment_end(s: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut k = start;
    while k + 1 < s.len() {
        if s[k] == '/' && s[k + 1] == '*' {
            depth += 1;
            k += 2;
        } else if s[k] == '*' && s[k + 1] == '/' {
            depth -= 1;
            k += 2;
            if depth == 0 {
                return k;
            }
        } else {
            k += 1;
        }
    }
    s.len()
}

/// The end of a `"..."` whose contents start at `k`.
fn string_end(s: &[char], mut k: usize) -> usize {
    while k < s.len() {
        match s[k] {
            '\\' => k += 2,
            '"' => return k + 1,
            _ => k += 1,
        }
    }
    s.len()
}

/// `'x'`, `'\n'`, `'\''`, `'\u{..}'` are literals; `'a` (a lifetime or label) is not.
fn char_literal_end(s: &[char], i: usize) -> Option<usize> {
    if s.get(i + 1) == Some(&'\\') {
        position_of(s, i + 3, '\'').map(|end| end + 1)
    } else if s.get(i + 2) == Some(&'\'') {
        Some(i + 3)
    } else {
        None
    }
}

/// `b"..."`, `b'x'`, `c"..."`, `r"..."`, `r#"..."#`, `br#"..."#`; `None` for identifiers
/// (`bar`, `r#type`).
fn prefixed_literal_end(s: &[char], i: usize) -> Option<usize> {
    let mut k = i;
    if matches!(s[k], 'b' | 'c') {
        k += 1;
    }
    match s.get(k) {
        Some('"') if k > i => return Some(string_end(s, k + 1)),
        Some('\'') if s[i] == 'b' && k > i => return char_literal_end(s, k),
        Some('r') => k += 1,
        _ => return None,
    }
    let hashes = s[k..].iter().take_while(|&&c| c == '#').count();
    k += hashes;
    if s.get(k) != Some(&'"') {
        return None;
    }
    let closes_at = |j: usize| s[j] == '"' && (1..=hashes).all(|h| s.get(j + h) == Some(&'#'));
    let close = (k + 1..s.len()).find(|&j| closes_at(j));
    Some(close.map_or(s.len(), |j| j + 1 + hashes))
}

/// The index just after the `}` that closes the `{` at `open`.
fn matching_brace(s: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in s.iter().enumerate().skip(open) {
        if c == '{' {
            depth += 1;
        } else if c == '}' {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return k + 1;
            }
        }
    }
    s.len()
}

/// The (stripped) text with every `#[cfg(test)]` item blanked: up to its `;`, or its whole
/// `{ ... }` body.
pub fn without_test_items(text: &str) -> String {
    const MARKER: &str = "#[cfg(test)]";
    let mut s: Vec<char> = text.chars().collect();
    let marker: Vec<char> = MARKER.chars().collect();
    let mut from = 0;
    while let Some(start) = (from..s.len()).find(|&k| s[k..].starts_with(&marker)) {
        let mut k = start + marker.len();
        while k < s.len() && s[k] != ';' && s[k] != '{' {
            k += 1;
        }
        let end = if k < s.len() && s[k] == '{' {
            matching_brace(&s, k)
        } else {
            (k + 1).min(s.len())
        };
        for c in &mut s[start..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        from = end;
    }
    s.into_iter().collect()
}

/// The words of the text with where each starts (identifiers, keywords, `$crate` as `crate`).
fn words(s: &[char]) -> Vec<(usize, String)> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if is_ident_char(s[i]) && (i == 0 || !is_ident_char(s[i - 1])) {
            let end = (i..s.len())
                .find(|&k| !is_ident_char(s[k]))
                .unwrap_or(s.len());
            words.push((i, s[i..end].iter().collect()));
            i = end;
        } else {
            i += 1;
        }
    }
    words
}

/// Inline `mod name { ... }` blocks: where each opens and closes, and its name.
pub fn inline_modules(text: &str) -> Vec<(usize, usize, String)> {
    let s: Vec<char> = text.chars().collect();
    let words = words(&s);
    let mut blocks = Vec::new();
    for pair in words.windows(2) {
        let ((_, keyword), (name_at, name)) = (&pair[0], &pair[1]);
        if keyword != "mod" {
            continue;
        }
        let after = name_at + name.chars().count();
        let open = (after..s.len()).find(|&k| !s[k].is_whitespace());
        if let Some(open) = open.filter(|&k| s[k] == '{') {
            blocks.push((open, matching_brace(&s, open), name.clone()));
        }
    }
    blocks
}

/// The module path at `position`: the file's, plus the inline modules around it.
pub fn module_path_at(
    file: &[String],
    inline: &[(usize, usize, String)],
    position: usize,
) -> Vec<String> {
    let mut path = file.to_vec();
    for (open, close, name) in inline {
        if *open < position && position < *close {
            path.push(name.clone());
        }
    }
    path
}

/// Every `use` tree (expanded to one reference per imported path) and every path in code that
/// starts with `crate`, `super` or `self`.
pub fn references(text: &str) -> Vec<Reference> {
    let s: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    let mut skip_until = 0;
    for (at, word) in words(&s) {
        if at < skip_until {
            continue;
        }
        let after = at + word.chars().count();
        if word == "use" && s.get(after).is_some_and(|c| c.is_whitespace()) {
            let end = position_of(&s, after, ';').unwrap_or(s.len());
            let tree: String = s[after..end].iter().collect();
            for (path, binds) in expand_use_tree(&tree) {
                found.push(Reference {
                    path,
                    binds,
                    position: at,
                    from_use: true,
                });
            }
            skip_until = end;
        } else if matches!(word.as_str(), "crate" | "super" | "self") {
            let (path, end) = path_from(&s, at);
            if path.len() > 1 {
                let binds = path.last().cloned().unwrap_or_default();
                found.push(Reference {
                    path,
                    binds,
                    position: at,
                    from_use: false,
                });
            }
            skip_until = end;
        }
    }
    found
}

/// The `a::b::c` path starting at `start` (spaces around `::` allowed) and where it ends.
fn path_from(s: &[char], start: usize) -> (Vec<String>, usize) {
    let ident_end = |k: usize| {
        (k..s.len())
            .find(|&j| !is_ident_char(s[j]))
            .unwrap_or(s.len())
    };
    let skip_space = |k: usize| {
        (k..s.len())
            .find(|&j| !s[j].is_whitespace())
            .unwrap_or(s.len())
    };
    let mut end = ident_end(start);
    let mut path = vec![s[start..end].iter().collect::<String>()];
    loop {
        let colons = skip_space(end);
        let is_colons = s.get(colons) == Some(&':') && s.get(colons + 1) == Some(&':');
        if !is_colons {
            break;
        }
        let segment = skip_space(colons + 2);
        let is_ident = s.get(segment).is_some_and(|&c| is_ident_char(c));
        if !is_ident {
            break;
        }
        end = ident_end(segment);
        path.push(s[segment..end].iter().collect());
    }
    (path, end)
}

/// `crate::{a::A, b::{self, B as Bee}}` → `([crate, a, A], A)`, `([crate, b, self], self)`,
/// `([crate, b, B], Bee)`.
fn expand_use_tree(tree: &str) -> Vec<(Vec<String>, String)> {
    let tokens = use_tokens(tree);
    let mut out = Vec::new();
    let mut position = 0;
    while position < tokens.len() {
        let before = position;
        use_subtree(&tokens, &mut position, &[], &mut out);
        if position == before {
            position += 1;
        }
    }
    out
}

/// Identifiers (`$crate` read as `crate`), `*`, `::`, `{`, `}` and `,`; anything else dropped.
fn use_tokens(tree: &str) -> Vec<String> {
    let s: Vec<char> = tree.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if is_ident_char(c) {
            let end = (i..s.len())
                .find(|&k| !is_ident_char(s[k]))
                .unwrap_or(s.len());
            tokens.push(s[i..end].iter().collect());
            i = end;
        } else if c == ':' && s.get(i + 1) == Some(&':') {
            tokens.push("::".to_string());
            i += 2;
        } else {
            if matches!(c, '{' | '}' | ',' | '*') {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}

/// One use tree: `prefix::` segments, then a name (maybe `as` another), `*`, or `{ list }`.
fn use_subtree(
    tokens: &[String],
    position: &mut usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, String)>,
) {
    let mut path = prefix.to_vec();
    while let Some(token) = tokens.get(*position) {
        match token.as_str() {
            "::" => *position += 1,
            "{" => {
                *position += 1;
                use_list(tokens, position, &path, out);
                return;
            }
            "," | "}" => return,
            name => {
                *position += 1;
                path.push(name.to_string());
                if tokens.get(*position).map(String::as_str) == Some("as") {
                    let alias = tokens.get(*position + 1).cloned().unwrap_or_default();
                    *position += 2;
                    out.push((path, alias));
                    return;
                }
                if tokens.get(*position).map(String::as_str) != Some("::") {
                    out.push((path, name.to_string()));
                    return;
                }
            }
        }
    }
}

/// The trees of a `{ a, b::c, ... }` list, the `{` already read; reads the closing `}`.
fn use_list(
    tokens: &[String],
    position: &mut usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, String)>,
) {
    while let Some(token) = tokens.get(*position) {
        match token.as_str() {
            "}" => {
                *position += 1;
                return;
            }
            "," => *position += 1,
            _ => {
                let before = *position;
                use_subtree(tokens, position, prefix, out);
                if *position == before {
                    *position += 1;
                }
            }
        }
    }
}

/// The absolute path (from the crate root, without `crate`) a path names, seen from the module
/// `here`; `None` for paths not starting with `crate`, `super` or `self` (extern crates, or
/// names in scope), and for a `super` above the root.
pub fn resolve(path: &[String], here: &[String]) -> Option<Vec<String>> {
    let first = path.first()?;
    if first == "crate" {
        return Some(path[1..].to_vec());
    }
    if first != "super" && first != "self" {
        return None;
    }
    let mut at = here.to_vec();
    let mut rest = path;
    while let Some((segment, tail)) = rest.split_first() {
        match segment.as_str() {
            "super" => {
                at.pop()?;
            }
            "self" => {}
            _ => break,
        }
        rest = tail;
    }
    at.extend(rest.iter().cloned());
    Some(at)
}

/// The 1-based line of a character position.
pub fn line_of(text: &str, position: usize) -> usize {
    text.chars().take(position).filter(|&c| c == '\n').count() + 1
}
