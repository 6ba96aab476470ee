/**
 * Migrates a data directory of the local server from the earlier
 * file-per-object layout (`objects/…`) to the log layout the file store reads
 * now (see lib/storage/file/migration.ts for the steps and their crash safety).
 *
 *   npm run migrate-data -- DIR
 *
 * Stop the server first: a directory whose lock another process holds is
 * refused. Running it again after a crash finishes the migration, or does
 * nothing. Exit status: 0 done (or nothing to do), 1 refused or failed, 2 usage error.
 */
import { existsSync } from 'node:fs';
import { DataDirectoryInUse, migrateDataDirectory } from '../lib/storage/file/migration.ts';

const args = process.argv.slice(2);
if (args.length !== 1 || args[0]!.startsWith('-') || !existsSync(args[0]!)) {
  process.stderr.write(
    `usage: npm run migrate-data -- DIR${args.length === 1 && !args[0]!.startsWith('-') ? ` (${args[0]} does not exist)` : ''}\n`,
  );
  process.exit(2);
}
const dir = args[0]!;
const bytes = (n: number) => `${n.toLocaleString('en')} B`;
try {
  const report = await migrateDataDirectory(dir);
  if (report.outcome === 'none') {
    console.log(`${dir}: nothing to migrate (no objects/ in the earlier layout).`);
  } else {
    if (report.outcome === 'migrated') {
      const deleted = `${report.deletedKeys} keys with only versions left were kept deleted`;
      console.log(`${dir}: migrated ${report.keys} keys, ${report.versions} versions (${deleted}).`);
      console.log(`version IDs were renumbered: ${report.renumbered} of ${report.versions} changed; bodies, ETags and times are kept.`);
    } else {
      console.log(`${dir}: finished a migration interrupted after its log was in place.`);
    }
    console.log(`bytes before: ${bytes(report.bytesBefore)} under objects/; after: ${bytes(report.bytesAfter)} (log and store.json).`);
    console.log(`the earlier key tree is now ${report.movedAside}; remove it once the server runs well.`);
  }
} catch (error) {
  process.stderr.write(`${error instanceof DataDirectoryInUse ? error.message : String((error as Error).stack ?? error)}\n`);
  process.exitCode = 1;
}
