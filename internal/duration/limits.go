package duration

// MaxQuotedBytes caps how much of a value that is not a duration an error
// quotes: enough to recognise it, not a whole line of garbage.
const MaxQuotedBytes = 80
