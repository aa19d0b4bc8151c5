"""Pure domain: no gRPC, no SQL, no hvac. Everything here reads time from a Clock."""
