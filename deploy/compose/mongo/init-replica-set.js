// Initiates the compose replica set once (idempotent: a second run finds it initiated)
// and waits until a primary accepts majority writes.
const members = [
  { _id: 0, host: "mongo1:27017", priority: 2 },
  { _id: 1, host: "mongo2:27017", priority: 1 },
  { _id: 2, host: "mongo3:27017", priority: 1 },
];
try {
  rs.status();
  print("replica set rs0 already initiated");
} catch (e) {
  if (e.codeName !== "NotYetInitialized" && e.code !== 94) throw e;
  rs.initiate({ _id: "rs0", members });
  print("replica set rs0 initiated");
}
for (let i = 0; i < 120; i++) {
  const hello = db.hello();
  if (hello.isWritablePrimary || hello.primary) {
    print("primary: " + (hello.primary || "this member"));
    quit(0);
  }
  sleep(1000);
}
print("no primary after 120 s");
quit(1);
