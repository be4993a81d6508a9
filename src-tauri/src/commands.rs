//! The commands the window invokes. Each opens its own connection to the service; a
//! change of state also nudges the live link to re-read status at once.

use punchwire_control::protocol::Command;
use serde_json::Value;
use tauri::State;

use crate::error::{AppError, ErrorKind};
use crate::settings::AppSettings;
use crate::AppState;
use crate::{service, setup};

async fn changing(state: &State<'_, AppState>, command: Command) -> Result<(), AppError> {
    service::request(command).await?;
    state.kick.notify_one();
    Ok(())
}

#[tauri::command]
pub async fn status(state: State<'_, AppState>) -> Result<Value, AppError> {
    let status = service::request(Command::Status).await?;
    // It answers: if the live link is waiting to reconnect, it need not wait.
    state.kick.notify_one();
    Ok(status)
}

#[tauri::command]
pub async fn pause(state: State<'_, AppState>, interface: Option<String>) -> Result<(), AppError> {
    changing(&state, Command::Pause { interface }).await
}

#[tauri::command]
pub async fn resume(state: State<'_, AppState>, interface: Option<String>) -> Result<(), AppError> {
    changing(&state, Command::Resume { interface }).await
}

#[tauri::command]
pub async fn registry_enable(state: State<'_, AppState>) -> Result<(), AppError> {
    changing(&state, Command::RegistryEnable).await
}

#[tauri::command]
pub async fn registry_disable(state: State<'_, AppState>) -> Result<(), AppError> {
    changing(&state, Command::RegistryDisable).await
}

#[tauri::command]
pub async fn get_config() -> Result<Value, AppError> {
    service::settings_request(Command::GetConfig).await
}

#[tauri::command]
pub async fn set_config(
    state: State<'_, AppState>,
    config: Value,
    revision: String,
) -> Result<Value, AppError> {
    // The answer holds the file's new revision, which the next save is based on.
    let saved = service::settings_request(Command::SetConfig { config, revision }).await?;
    state.kick.notify_one();
    Ok(saved)
}

/// Keeps the peers of an interface the configuration does not name yet direct.
#[tauri::command]
pub async fn enable_interface(state: State<'_, AppState>, name: String) -> Result<(), AppError> {
    setup::enable_interface(&mut setup::ServiceConfig, &name).await?;
    state.kick.notify_one();
    Ok(())
}

/// Makes this machine the registry for `zone`, serving the peers of `device`.
#[tauri::command]
pub async fn enable_registry(
    state: State<'_, AppState>,
    device: String,
    zone: String,
) -> Result<(), AppError> {
    setup::enable_registry(&mut setup::ServiceConfig, &device, &zone).await?;
    state.kick.notify_one();
    Ok(())
}

/// The service's latest events, oldest first: what happened before the window opened.
#[tauri::command]
pub async fn recent_events() -> Result<Vec<Value>, AppError> {
    events_of(service::request(Command::RecentEvents).await?)
}

fn events_of(answer: Value) -> Result<Vec<Value>, AppError> {
    match answer {
        Value::Object(mut fields) => match fields.remove("events") {
            Some(Value::Array(events)) => Ok(events),
            _ => Err(AppError::new(
                ErrorKind::Protocol,
                "the service's recent events came without a list of events",
            )),
        },
        _ => Err(AppError::new(
            ErrorKind::Protocol,
            "the service's recent events are not an object",
        )),
    }
}

#[tauri::command]
pub fn app_settings(state: State<'_, AppState>) -> AppSettings {
    state.settings.get()
}

#[tauri::command]
pub fn set_app_settings(state: State<'_, AppState>, settings: AppSettings) -> Result<(), AppError> {
    state.settings.set(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recent_events_are_the_list_the_service_answers_with() {
        let event = json!({"type": "reloaded", "at": 1_764_450_000_000u64});
        assert_eq!(
            events_of(json!({"events": [event.clone()]})).unwrap(),
            [event]
        );
        assert_eq!(
            events_of(json!({"event": []})).unwrap_err().kind,
            ErrorKind::Protocol
        );
    }
}
