process.stderr.write('npm run weights: not built yet\n');
process.exit(1);
