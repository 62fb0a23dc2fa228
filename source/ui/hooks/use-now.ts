// A clock for elapsed times: re-renders every `ms` while mounted (Ink throttles the frames).
import {useEffect, useState} from 'react';

export function useNow(ms = 1000): number {
	const [now, setNow] = useState(() => Date.now());
	useEffect(() => {
		const timer = setInterval(() => setNow(Date.now()), ms);
		return () => clearInterval(timer);
	}, [ms]);
	return now;
}
