//! Text from outside (names in registries' answers, peer names in files, messages from
//! the service) made safe to show: it must not be able to move a terminal's cursor,
//! recolour it, forge a log line, reorder what is around it, or add markup to a
//! notification.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (C0, DEL, C1) and every Unicode control of text
/// direction replaced by a visible escape: `\n`, `\r`, `\t`, else `\u{…}`. Text without
/// them is returned as it is, without copying.
pub fn display_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` for a notification body, which notification servers may render as markup
/// (the freedesktop subset: `<b>`, `<a href>`, `<img>`, entities): `&`, `<`, `>`, `"`
/// and `'` become entities, and control characters are escaped as in
/// [`display_safe`], except the newlines that separate a body's lines.
pub fn markup_safe(text: &str) -> Cow<'_, str> {
    let is_markup = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'');
    if !text
        .chars()
        .any(|c| is_markup(c) || (c != '\n' && needs_escape(c)))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push('\n'),
            c if needs_escape(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn push_escape(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// Control characters, and the invisible marks that change the direction of the text
/// around them (the "Trojan Source" characters, CVE-2021-42574).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_shown_as_they_are_without_a_copy() {
        for name in [
            "alice",
            "bob's laptop",
            "Zoë (büro)",
            "peer-7.wg.example.",
            "東京",
        ] {
            assert!(matches!(display_safe(name), Cow::Borrowed(n) if n == name));
        }
    }

    #[test]
    fn terminal_sequences_and_forged_lines_become_visible() {
        assert_eq!(
            display_safe("evil\x1b[2J\x1b]0;owned\x07name"),
            "evil\\u{1b}[2J\\u{1b}]0;owned\\u{7}name"
        );
        assert_eq!(
            display_safe("peer\nINFO registry reachable\r\t"),
            "peer\\nINFO registry reachable\\r\\t"
        );
        // DEL and the 8-bit CSI (C1), which some terminals also obey.
        assert_eq!(display_safe("a\x7fb\u{9b}31m"), "a\\u{7f}b\\u{9b}31m");
        // Right-to-left override: would show "alice" reversed around what follows.
        assert_eq!(
            display_safe("ecila\u{202e}gpj.exe\u{2066}"),
            "ecila\\u{202e}gpj.exe\\u{2066}"
        );
    }

    #[test]
    fn notification_markup_is_shown_not_rendered() {
        assert_eq!(
            markup_safe("<b>alice</b> & <a href=\"x\">'bob'</a>"),
            "&lt;b&gt;alice&lt;/b&gt; &amp; &lt;a href=&quot;x&quot;&gt;&#39;bob&#39;&lt;/a&gt;"
        );
        // A body's lines stay lines; other control characters are escaped.
        assert_eq!(
            markup_safe("alice is direct\nbob\x1b[31m: endpoint set"),
            "alice is direct\nbob\\u{1b}[31m: endpoint set"
        );
        assert!(matches!(
            markup_safe("alice is direct\nbob: endpoint 192.0.2.1:51820 → [2001:db8::1]:4000"),
            Cow::Borrowed(_)
        ));
    }
}
