//! Shared test support: the wa-crypt-tools peer and random databases.
#![allow(dead_code)]

pub mod database;
pub mod peer;
