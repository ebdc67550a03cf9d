// Jest 30 reads `testTimeout` from the global config only (a project's own value is ignored), so the
// projects that talk to real local parts set theirs here.
jest.setTimeout(30_000);
