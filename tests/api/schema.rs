//! The schema and the code agree: every Rust enum shared with PostgreSQL has exactly the
//! database's values in the database's order, so `Ord` in Rust and comparisons in SQL (the
//! tier ladder) agree, and no value can be decoded as another.

use sqlx::PgPool;

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn every_shared_enum_matches_its_postgres_type(pool: PgPool) {
    for (type_name, rust_values) in bondhu::domain::sql_enums() {
        let database_values: Vec<String> = sqlx::query_scalar(
            "select e.enumlabel::text from pg_enum e join pg_type t on t.oid = e.enumtypid
             where t.typname = $1 order by e.enumsortorder",
        )
        .bind(type_name)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            database_values, rust_values,
            "enum {type_name}: the database and the Rust enum disagree"
        );
    }
}

#[sqlx::test(migrator = "bondhu::MIGRATOR")]
async fn no_enum_of_the_database_is_left_without_a_rust_twin(pool: PgPool) {
    let in_rust: Vec<&str> = bondhu::domain::sql_enums()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let in_database: Vec<String> = sqlx::query_scalar(
        "select t.typname::text from pg_type t join pg_namespace n on n.oid = t.typnamespace
         where t.typtype = 'e' and n.nspname = 'public' order by 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for name in &in_database {
        assert!(
            in_rust.contains(&name.as_str()),
            "the database enum {name} has no Rust enum in bondhu::domain::sql_enums()"
        );
    }
}
