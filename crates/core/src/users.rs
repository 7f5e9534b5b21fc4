//! SKELETON: filled in by the users/delivery work.
