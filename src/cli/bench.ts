process.stderr.write('npm run bench: not built yet\n');
process.exit(1);
