; Punchwire's additions to Tauri's NSIS installer (tauri.windows.conf.json:
; bundle.windows.nsis.installerHooks). The installer runs elevated (perMachine).
;
; Installs: the tray app (Tauri's part), punchwire.exe as the "Punchwire" Windows service
; (LocalSystem, automatic start), the local group "Punchwire Users" whose members may use
; the service's control pipe (the installing user is added), %ProgramData%\Punchwire with
; a configuration that names no interface yet (the app offers them), and the tray app's start at login (the machine-wide Run key).
; Uninstalling removes the service and the Run entry, and keeps the group and
; %ProgramData%\Punchwire (the user's configuration).

!define PW_SERVICE "Punchwire"
!define PW_GROUP "Punchwire Users"
!define PW_RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"

!macro NSIS_HOOK_PREINSTALL
  ; An upgrade replaces punchwire.exe: stop the running service first (fails harmlessly
  ; on a first install).
  nsExec::ExecToLog 'sc.exe stop "${PW_SERVICE}"'
  Pop $0
  Sleep 2000
!macroend

!macro NSIS_HOOK_POSTINSTALL
  ; The group that may use the control pipe, and the user installing.
  nsExec::ExecToLog 'net.exe localgroup "${PW_GROUP}" /add /comment:"May see and steer the Punchwire service"'
  Pop $0
  nsExec::ExecToLog 'net.exe localgroup "${PW_GROUP}" "$%USERNAME%" /add'
  Pop $0

  ; Configuration and state: %ProgramData%\Punchwire. A first install gets a
  ; configuration that names no interface: the service starts, and the app offers this
  ; machine's tunnels with what it found for each. An upgrade keeps the user's file.
  ReadEnvStr $1 ProgramData
  CreateDirectory "$1\Punchwire"
  IfFileExists "$1\Punchwire\config.toml" +2 0
    CopyFiles /SILENT "$INSTDIR\first-run.toml" "$1\Punchwire\config.toml"

  ; The service (created once; an upgrade keeps its settings).
  nsExec::ExecToLog 'sc.exe query "${PW_SERVICE}"'
  Pop $0
  ${If} $0 != 0
    nsExec::ExecToLog 'sc.exe create "${PW_SERVICE}" binPath= "\"$INSTDIR\punchwire.exe\" service --windows-service" start= auto DisplayName= "Punchwire"'
    Pop $0
    nsExec::ExecToLog 'sc.exe description "${PW_SERVICE}" "Keeps WireGuard peer endpoints current from a Punchwire registry (direct tunnels through NAT)."'
    Pop $0
    nsExec::ExecToLog 'sc.exe failure "${PW_SERVICE}" reset= 86400 actions= restart/10000'
    Pop $0
  ${EndIf}
  nsExec::ExecToLog 'sc.exe start "${PW_SERVICE}"'
  Pop $0

  ; The tray app at every user's login.
  WriteRegStr HKLM "${PW_RUN_KEY}" "Punchwire" '"$INSTDIR\${MAINBINARYNAME}.exe"'
!macroend

!macro NSIS_HOOK_PREUNINSTALL
  nsExec::ExecToLog 'sc.exe stop "${PW_SERVICE}"'
  Pop $0
  Sleep 2000
  nsExec::ExecToLog 'sc.exe delete "${PW_SERVICE}"'
  Pop $0
  DeleteRegValue HKLM "${PW_RUN_KEY}" "Punchwire"
!macroend
