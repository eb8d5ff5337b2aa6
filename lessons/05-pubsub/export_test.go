package pubsub

// StatusFromHub lets the tests (package pubsub_test) hand statusFromHub an
// error the hub itself never returns.
var StatusFromHub = statusFromHub
