//! The rate limits' names, shared with PostgreSQL (`rate_limit_states`).

super::sql_enum! {
    /// Which per-client limit a request counts against.
    pub enum Bucket = "rate_limit_bucket" {
        /// Signup, lookup, code check and landing (`PUBLIC_RATE_LIMIT_PER_MINUTE`).
        Public = "public",
        /// Logins (`LOGIN_RATE_LIMIT_PER_MINUTE`).
        Login = "login",
    }
}
