//! Which users the Users screen shows: a filter on the name and pages of
//! [`PAGE_SIZE`], so a site of 10,000 users is a page of 100 rows, not a
//! 6 MB document rendered on every visit.

use maud::{html, Markup};

use super::users::UserRow;

/// Rows per page.
pub(crate) const PAGE_SIZE: usize = 100;

/// The filter and page asked for (`/console/users?q=ali&page=2`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UserView {
    /// Names containing this (any case); empty: every user.
    pub(crate) filter: String,
    /// 1-based; 0 is the first, and past the last page shows the last.
    pub(crate) page: usize,
}

impl UserView {
    /// From the query's raw values: a page that is not a positive number
    /// is the first.
    pub(crate) fn from_query(q: Option<&str>, page: Option<&str>) -> UserView {
        UserView {
            filter: q.unwrap_or("").trim().to_string(),
            page: page
                .and_then(|p| p.parse().ok())
                .filter(|&p| p > 0)
                .unwrap_or(1),
        }
    }

    /// The view that shows `name`'s row (a refused form's user).
    pub(crate) fn of_user(name: &str) -> UserView {
        UserView {
            filter: name.to_string(),
            page: 1,
        }
    }
}

/// The rows of the view, and where they sit in the filtered list.
pub(crate) struct Shown {
    /// The rows of this page.
    pub(crate) rows: Vec<UserRow>,
    /// Users matching the filter.
    pub(crate) matching: usize,
    /// This page (1-based) and how many there are.
    pub(crate) page: usize,
    pub(crate) pages: usize,
}

/// Filters `all` (in the users file's order) and cuts out the page.
pub(crate) fn select(all: Vec<UserRow>, view: &UserView) -> Shown {
    let needle = view.filter.to_lowercase();
    let matching: Vec<UserRow> = all
        .into_iter()
        .filter(|u| needle.is_empty() || u.name.to_lowercase().contains(&needle))
        .collect();
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let page = view.page.clamp(1, pages);
    let count = matching.len();
    let rows = matching
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    Shown {
        rows,
        matching: count,
        page,
        pages,
    }
}

/// The filter box and the page links (plain GET: no token needed).
pub(crate) fn navigation(view: &UserView, shown: &Shown) -> Markup {
    let link = |page: usize| {
        let mut url = format!("/console/users?page={page}");
        if !view.filter.is_empty() {
            url.push_str("&q=");
            url.extend(form_urlencoded::byte_serialize(view.filter.as_bytes()));
        }
        url
    };
    html! {
        form #find-user method="get" action="/console/users" {
            label { "Find" input type="search" name="q" value=(view.filter) placeholder="part of a name"; }
            button type="submit" { "Find" }
        }
        p.page-info {
            (shown.matching) " user" (if shown.matching == 1 { "" } else { "s" })
            @if !view.filter.is_empty() { " matching “" (view.filter) "”" }
            @if shown.pages > 1 { ", page " (shown.page) " of " (shown.pages) }
            @if shown.page > 1 { " " a rel="prev" href=(link(shown.page - 1)) { "← previous" } }
            @if shown.page < shown.pages { " " a rel="next" href=(link(shown.page + 1)) { "next →" } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(n: usize) -> Vec<UserRow> {
        (0..n)
            .map(|i| UserRow {
                name: format!("user{i:05}"),
                admin: false,
            })
            .collect()
    }

    #[test]
    fn a_big_site_is_shown_a_page_at_a_time() {
        let shown = select(users(10_000), &UserView::from_query(None, Some("3")));
        assert_eq!((shown.matching, shown.page, shown.pages), (10_000, 3, 100));
        assert_eq!(shown.rows.len(), PAGE_SIZE);
        assert_eq!(shown.rows[0].name, "user00200");
    }

    #[test]
    fn the_filter_matches_any_part_of_a_name_in_any_case() {
        let shown = select(users(300), &UserView::from_query(Some(" USER0012 "), None));
        let names: Vec<&str> = shown.rows.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names.len(), 10, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("user0012")));
    }

    #[test]
    fn a_page_out_of_range_or_not_a_number_is_clamped() {
        let last = select(users(250), &UserView::from_query(None, Some("99")));
        assert_eq!((last.page, last.rows.len()), (3, 50));
        for bad in ["0", "-1", "two", ""] {
            assert_eq!(UserView::from_query(None, Some(bad)).page, 1, "{bad}");
        }
        let none = select(Vec::new(), &UserView::default());
        assert_eq!((none.page, none.pages, none.rows.len()), (1, 1, 0));
    }

    #[test]
    fn page_links_keep_the_filter_encoded() {
        let view = UserView::from_query(Some("a b&c"), None);
        let shown = select(
            (0..250)
                .map(|i| UserRow {
                    name: format!("a b&c{i}"),
                    admin: false,
                })
                .collect(),
            &view,
        );
        let html = navigation(&view, &shown).into_string();
        assert!(
            html.contains("/console/users?page=2&amp;q=a+b%26c"),
            "{html}"
        );
    }
}
