//! The commands the window invokes. Each opens its own connection to the service; a
//! change of state also nudges the live link to re-read status at once.

use punchwire_control::protocol::Command;
use serde_json::Value;
use tauri::State;

use crate::error::AppError;
use crate::service;
use crate::settings::AppSettings;
use crate::AppState;

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

#[tauri::command]
pub fn app_settings(state: State<'_, AppState>) -> AppSettings {
    state.settings.get()
}

#[tauri::command]
pub fn set_app_settings(state: State<'_, AppState>, settings: AppSettings) -> Result<(), AppError> {
    state.settings.set(settings)
}
