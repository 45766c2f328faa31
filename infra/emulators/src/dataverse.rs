//! Dataverse Web API + Entra ID emulator (arrives with the Dataverse issue).
