// A process competing for a lead, for test/leader.test.ts: prints `elected` and `deposed` lines.
import { LeaderElection } from '../../src/engine/cluster/leader.ts';

const [url, name] = process.argv.slice(2) as [string, string];
const election = new LeaderElection({
  connectionString: url,
  name,
  retryMs: 200,
  onElected: () => void process.stdout.write('elected\n'),
  onDeposed: () => void process.stdout.write('deposed\n'),
  onError: () => {},
});
await election.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void election.stop().then(() => process.exit(0)));
