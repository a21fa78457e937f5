//! Options shared by the repository and key commands: where the repository is and
//! which key opens it. Owned by the repository commands.
