//! Password hashing: Argon2id with configured parameters, at most a bounded number at once,
//! on blocking threads.

use crate::entity::user;
use crate::error::{CoreError, CoreResult};
use crate::ids::{OrgId, UserId};
use crate::store::ByKey;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

/// Argon2id's cost and how many hashes run at once. Each hash holds `memory_kib` of memory for
/// its duration, so the bound on concurrent hashes is what keeps a burst of password writes
/// (40 concurrent `PUT`s with a password) from taking the process's memory; the others wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub concurrency: usize,
}

impl Default for PasswordHashing {
    /// OWASP's first Argon2id configuration (19 MiB, 2 iterations, 1 lane); as many hashes at
    /// once as there are CPUs (more would only queue for them while holding memory).
    fn default() -> Self {
        Self {
            memory_kib: argon2::Params::DEFAULT_M_COST,
            iterations: argon2::Params::DEFAULT_T_COST,
            concurrency: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// The configured hashing, set once at start (tests and tools get the default).
pub(super) static PASSWORD_HASHING: std::sync::OnceLock<(argon2::Params, tokio::sync::Semaphore)> =
    std::sync::OnceLock::new();

/// Sets the hashing parameters; INVALID_ARGUMENT-like errors for parameters Argon2 refuses.
/// Only the first call takes effect.
pub fn configure_password_hashing(settings: PasswordHashing) -> Result<(), String> {
    let params = argon2::Params::new(
        settings.memory_kib,
        settings.iterations,
        argon2::Params::DEFAULT_P_COST,
        None,
    )
    .map_err(|e| format!("invalid Argon2 parameters: {e}"))?;
    let _ = PASSWORD_HASHING.set((
        params,
        tokio::sync::Semaphore::new(settings.concurrency.max(1)),
    ));
    Ok(())
}

pub(super) fn password_hashing() -> &'static (argon2::Params, tokio::sync::Semaphore) {
    PASSWORD_HASHING.get_or_init(|| {
        let defaults = PasswordHashing::default();
        (
            argon2::Params::default(),
            tokio::sync::Semaphore::new(defaults.concurrency),
        )
    })
}

/// Runs one Argon2 computation off the async runtime, within the bound on concurrent hashes.
pub(super) async fn with_argon2<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce(argon2::Argon2<'static>) -> T + Send + 'static,
) -> CoreResult<T> {
    let (params, slots) = password_hashing();
    let _slot = slots
        .acquire()
        .await
        .map_err(|_| CoreError::Internal(format!("{what}: hashing is shut down")))?;
    let argon2 = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
    );
    tokio::task::spawn_blocking(move || work(argon2))
        .await
        .map_err(|e| CoreError::Internal(format!("{what} task failed: {e}")))
}

/// Hashes a password with Argon2id (configured parameters, random salt) off the async runtime.
pub async fn hash_password(password: String) -> CoreResult<String> {
    with_argon2("password hashing", move |argon2| {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|e| CoreError::Internal(format!("password salt encoding failed: {e}")))?;
        argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| CoreError::Internal(format!("password hashing failed: {e}")))
    })
    .await?
}

/// Checks a password against the stored hash of a user (for callers that authenticate users).
/// A deactivated user never passes: deactivation blocks every credential without deleting it,
/// so reactivation restores access.
pub async fn verify_password(
    db: &DatabaseConnection,
    org: OrgId,
    id: UserId,
    password: String,
) -> CoreResult<bool> {
    let hash = user::Entity::find_by_id(id.0)
        .filter(user::Column::OrgId.eq(org.0))
        .filter(user::Column::Active.eq(true))
        .select_only()
        .column(user::Column::PasswordHash)
        .into_tuple::<Option<String>>()
        .by_key(db)
        .await?
        .flatten();
    let Some(hash) = hash else { return Ok(false) };
    verify(hash, password).await
}

/// Whether `password` matches the Argon2 `hash`, off the async runtime. The stored hash names
/// its own parameters; the configured ones only bound the work. Argon2's comparison is constant
/// time.
async fn verify(hash: String, password: String) -> CoreResult<bool> {
    with_argon2("password verification", move |argon2| {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        PasswordHash::new(&hash)
            .map(|parsed| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
}

/// What a password check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password is the user's; `active` says whether the user may sign in.
    Matched { user: UserId, active: bool },
    /// No such user, no password, or another password: the same answer for all three.
    Mismatch,
}

/// A hash of no one's password, with the configured parameters, checked when there is no
/// stored hash so that an unknown user takes as long as a wrong password.
static DECOY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// Checks `password` for the user of `org` whose user name is `user_name` (without regard to
/// case). Every path runs exactly one Argon2 verification, so the time taken does not tell an
/// unknown user from a wrong password.
pub async fn check_password(
    db: &DatabaseConnection,
    org: OrgId,
    user_name: &str,
    password: String,
) -> CoreResult<PasswordCheck> {
    let found = user::Entity::find()
        .filter(user::Column::OrgId.eq(org.0))
        .filter(user::Column::UserNameLower.eq(user_name.to_lowercase()))
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Active)
        .column(user::Column::PasswordHash)
        .into_tuple::<(uuid::Uuid, bool, Option<String>)>()
        .by_key(db)
        .await?;
    let (user, active, hash) = match found {
        Some((id, active, Some(hash))) => (Some(UserId(id)), active, hash),
        _ => {
            let decoy = DECOY_HASH
                .get_or_try_init(|| hash_password("no one's password".to_owned()))
                .await?;
            (None, false, decoy.clone())
        }
    };
    let matched = verify(hash, password).await?;
    Ok(match user {
        Some(user) if matched => PasswordCheck::Matched { user, active },
        _ => PasswordCheck::Mismatch,
    })
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn argon2_parameters_are_checked() {
        let refused = configure_password_hashing(PasswordHashing {
            memory_kib: 1,
            iterations: 2,
            concurrency: 1,
        });
        assert!(refused.unwrap_err().contains("Argon2"));
    }

    #[tokio::test]
    async fn a_hash_verifies_and_the_bound_admits_concurrent_hashes() {
        let hashes =
            futures::future::join_all((0..4).map(|n| hash_password(format!("correct horse {n}"))))
                .await;
        for hash in hashes {
            let hash = hash.unwrap();
            assert!(
                hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
                "{hash}"
            );
        }
    }
}
