// Filled in by the test harness: prepares Postgres and Redis for the run.
export default async function setup() {}
