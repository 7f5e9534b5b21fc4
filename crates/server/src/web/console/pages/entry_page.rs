//! Which allow-list entries the Relay screen lists: pages of
//! [`PAGE_SIZE`] in the list's order, so a list of 10,000 entries is a page
//! of 200 rows, not a 5 MB document. The summary and the warnings still
//! cover the whole list.

use std::ops::Range;

use maud::{html, Markup};

/// Entries per page.
pub(crate) const PAGE_SIZE: usize = 200;

/// The page of a list of `len` entries that `asked` (1-based; 0, a bad
/// value or past the end is clamped) falls on, and how many pages there are.
pub(crate) fn clamp(asked: usize, len: usize) -> (usize, usize) {
    let pages = len.div_ceil(PAGE_SIZE).max(1);
    (asked.clamp(1, pages), pages)
}

/// The entry indexes (0-based, as the report numbers them) of `page`.
pub(crate) fn indexes(page: usize) -> Range<usize> {
    let start = (page.max(1) - 1) * PAGE_SIZE;
    start..start + PAGE_SIZE
}

/// "Entries 201–400 of 10,000" and the links to the pages beside it.
pub(crate) fn navigation(page: usize, pages: usize, len: usize) -> Markup {
    let shown = indexes(page);
    html! {
        @if pages > 1 {
            p.page-info {
                "Entries " (shown.start + 1) "–" (shown.end.min(len)) " of " (len) ", page " (page) " of " (pages)
                @if page > 1 { " " a rel="prev" href=(format!("/console/relay?page={}", page - 1)) { "← previous" } }
                @if page < pages { " " a rel="next" href=(format!("/console/relay?page={}", page + 1)) { "next →" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_entries_are_fifty_pages_and_any_page_value_is_one_of_them() {
        assert_eq!(clamp(3, 10_000), (3, 50));
        assert_eq!(clamp(0, 10_000), (1, 50));
        assert_eq!(clamp(99, 10_000), (50, 50));
        assert_eq!(clamp(1, 0), (1, 1));
        assert_eq!(indexes(2), 200..400);
    }

    #[test]
    fn one_page_needs_no_links() {
        assert_eq!(navigation(1, 1, 5).into_string(), "");
        let html = navigation(2, 3, 450).into_string();
        assert!(
            html.contains("Entries 201–400 of 450, page 2 of 3"),
            "{html}"
        );
        assert!(html.contains(r#"href="/console/relay?page=1""#));
        assert!(html.contains(r#"href="/console/relay?page=3""#));
    }
}
