//go:build race

package pubsub_test

// readerRaceMessages is how many messages the reader-races-publisher test
// publishes. The race detector slows every step down several times but also
// widens the moment a racy makeRoom can be caught in, so fewer are enough.
const readerRaceMessages = 100_000
