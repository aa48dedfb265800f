"""The local stack: sandbox, storage emulator, the four functions, triggers and a demo site."""
